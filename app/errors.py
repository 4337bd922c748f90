"""One error hierarchy for the service and the one place that maps it to HTTP."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles

from app.schemas.readings import (
    DEVICE_ID_PATTERN,
    PREFIX_PATTERN,
    device_id_reason,
    prefix_reason,
)
from app.schemas.times import LINE, TEXT, control_reason, shown

log = logging.getLogger(__name__)


class GasleakError(Exception):
    """Base of every domain error. ``status`` is the HTTP status it maps to."""

    status = 400
    error = "bad_request"
    #: Extra response headers (e.g. ``WWW-Authenticate`` on a 401).
    headers: dict[str, str] | None = None

    def __init__(self, detail: Any) -> None:
        super().__init__(str(detail))
        self.detail = detail


class NotFound(GasleakError):
    """A named resource (device, alert) does not exist."""

    status = 404
    error = "not_found"


class Unauthorized(GasleakError):
    """No API key, or one that is unknown or revoked (RFC 9110 §15.5.2: 401 names the scheme)."""

    status = 401
    error = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(GasleakError):
    """A valid key whose role (or device prefix) does not allow the request."""

    status = 403
    error = "forbidden"


class InvalidBody(GasleakError):
    """The body is not readings at all (not JSON, wrong shape, too many)."""

    status = 422
    error = "invalid_body"


class TooLarge(GasleakError):
    """The body is larger than the service accepts in one message. Over HTTP the connection
    stays open: uvicorn reads the rest of the body and drops it (nothing is kept), so the
    client, still sending, gets this answer; closing instead reset the connection under a
    client that had not finished sending, and its 413 was lost."""

    status = 413
    error = "too_large"


def too_large_detail(limit: int, declared: int | None = None) -> list[dict[str, Any]]:
    """The ``detail`` of a 413: the body's declared size (``Content-Length``), when known,
    and the route's limit, bytes (and MiB)."""
    size = f"{declared} bytes" if declared is not None else "the body is larger than the limit"
    return [
        {
            "field": "(body)",
            "reason": f"{size}; this route takes at most {limit} bytes "
            f"({limit / 2**20:g} MiB) in one request",
            "type": "too_large",
        }
    ]


class InvalidRequest(GasleakError):
    """A query parameter or header is wrong (unknown name, bad cursor)."""

    status = 422
    error = "invalid_request"


def cursor_position(cursor: str | int, newest: int) -> int:
    """The row id a page ``cursor`` names, checked against ``newest``, the newest row id of
    the list (``/api/alerts``, ``/api/audit``, ``/api/webhooks/deliveries``).

    A cursor is the id of the last row of a page, and ids only grow, so every cursor handed
    out is from 1 to the newest id; any id in that range is a valid position (a keyset page
    starts after it), so one made up inside it cannot be told from one handed out, and one
    of a row deleted since stays valid. ``0`` and ids past the newest (a cursor of another
    store, or made up) were answered with a page: they are refused (newcomer of 2 Dec).

    Raises:
        InvalidRequest: ``cursor`` is not decimal digits, or not from 1 to ``newest``.
    """
    text = str(cursor)
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
    if value is None or not 1 <= value <= newest:
        handed = f"from 1 to {newest}, the newest row" if newest else "none yet: the list is empty"
        raise bad_cursor(f"row ids, {handed}")
    return value


def bad_cursor(cursors: str) -> InvalidRequest:
    """The one refusal of a page cursor this API did not hand out, on every list: field
    ``cursor``, type ``cursor``, ``not a cursor from this API: its cursors are <cursors>``
    (:func:`cursor_position`; ``/api/devices``, whose cursors are device ids)."""
    reason = f"not a cursor from this API: its cursors are {cursors}"
    return InvalidRequest([{"field": "cursor", "reason": reason, "type": "cursor"}])


#: The OpenAPI description of a 415 (:func:`app.routing.require_json`).
UNSUPPORTED_MEDIA_TYPE = (
    "Content-Type missing or not application/json or application/*+json, a charset other "
    "than UTF-8, or a Content-Encoding other than identity"
)


class UnsupportedMediaType(GasleakError):
    """A request body that is not ``application/json`` (or ``application/*+json``)."""

    status = 415
    error = "unsupported_media_type"


class Overloaded(GasleakError):
    """The service sheds this message (scoring queue full, event loop behind) or the
    client went over its rate limit. Nothing of the message was accepted; send it again
    after ``retry_after_s`` seconds (HTTP: 429 with ``Retry-After``)."""

    status = 429
    error = "overloaded"

    def __init__(self, detail: Any, *, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(GasleakError):
    """The service cannot take the request now (shutting down, model failed)."""

    status = 503
    error = "unavailable"


class FieldError(BaseModel):
    """One reason a request was refused."""

    model_config = ConfigDict(extra="allow")

    field: str = Field(description='Dotted path of the field, query parameter or header; "(body)"')
    reason: str
    type: str | None = Field(None, description="Machine-readable kind (pydantic's error type)")


class ErrorOut(BaseModel):
    """Every error answer of the API (4xx and 5xx alike)."""

    error: str = Field(
        description='"invalid_request", "invalid_body", "unsupported_media_type", "not_found", '
        '"conflict", "too_large", "overloaded", "unavailable", ...'
    )
    detail: list[FieldError] | str | None = Field(description="What was wrong, by field")
    retry_after_s: float | None = Field(
        None, description='"overloaded" only: send the message again after this many seconds'
    )


def document_errors(app: FastAPI) -> None:
    """Make the OpenAPI document describe the errors the service really sends: every 4xx
    response (FastAPI's default 422 included) is an :class:`ErrorOut`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        one = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(one.pop("$defs", {}))
        schemas["ErrorOut"] = one
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        _document_strict_routes(app, doc)
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                for code, response in op.get("responses", {}).items():
                    if code.startswith("4") or code.startswith("5"):
                        response["content"] = ref
                        if code == "422":
                            response["description"] = "Invalid request, naming each field"
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _document_strict_routes(app: FastAPI, doc: dict[str, Any]) -> None:
    """Add to ``doc`` the answers of :class:`app.routing.StrictRoute` that FastAPI does not
    list: a 422 on every operation (an unknown or repeated query parameter: ``GET
    /api/status?foo=1`` answered 422 while its OpenAPI listed none), and a 415 on every one
    that takes a JSON body (README newcomer of 9 Dec)."""
    from fastapi import routing

    from app.routing import StrictRoute  # app.routing imports this module

    paths = doc.get("paths", {})
    # FastAPI >= 0.16x keeps included routers lazily (what its own OpenAPI walks); before,
    # app.routes held the routes themselves
    walk = getattr(routing, "iter_route_contexts", None)
    contexts: list[Any] = list(walk(app.routes) if walk is not None else app.routes)
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if not isinstance(route, StrictRoute):
            continue
        ops = paths.get(ctx.path_format, {})
        for method in ctx.methods or ():
            op = ops.get(method.lower())
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            responses.setdefault("422", {"description": "Invalid request"})
            if ctx.body_field is not None:
                responses.setdefault("415", {"description": UNSUPPORTED_MEDIA_TYPE})


def error_body(exc: GasleakError) -> dict[str, Any]:
    """The JSON of an error, HTTP or WebSocket: ``{"error", "detail"}``, plus
    ``retry_after_s`` for :class:`Overloaded`."""
    detail = exc.detail
    if isinstance(detail, list):  # every item names its kind, as pydantic's do
        detail = [
            {**d, "type": d.get("type") or exc.error} if isinstance(d, dict) else d for d in detail
        ]
    body = {"error": exc.error, "detail": detail}
    if isinstance(exc, Overloaded):
        body["retry_after_s"] = exc.retry_after_s
    return body


def pydantic_errors(errors: list[dict[str, Any]], *, drop_prefix: int = 0) -> list[dict[str, Any]]:
    """Pydantic ``ValidationError.errors()`` -> ``[{"field", "reason", "type"}]``.

    ``drop_prefix`` leading loc parts (e.g. the batch index or "body") are removed from the
    dotted field path. A device id that does not match its pattern is explained in words
    (:func:`app.schemas.readings.device_id_reason`) instead of pydantic's "String should
    match pattern '...'", so every route words it alike; so are a prefix and a free-text
    field holding a control character (:func:`app.schemas.times.control_reason`). A field
    name is cut short as a device id is (:func:`app.schemas.times.shown`): an unknown key of
    10 MB came back whole, a 10.4 MB 422 (newcomer of 2 Dec).
    """
    out = []
    for e in errors:
        loc = [shown(str(p), quote=False) for p in e.get("loc", ())][drop_prefix:]
        reason = e["msg"].removeprefix("Value error, ")  # our validators' own sentences
        ctx = e.get("ctx") or {}
        kind = e["type"]
        if kind == "string_pattern_mismatch" and ctx.get("pattern") == DEVICE_ID_PATTERN:
            reason = device_id_reason(e.get("input"))
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") == PREFIX_PATTERN:
            reason = prefix_reason(e.get("input"))
        elif kind == "string_pattern_mismatch" and ctx.get("pattern") in (LINE, TEXT):
            reason = control_reason(e.get("input"), multiline=ctx.get("pattern") == TEXT)
        big = e.get("input")
        if kind == "float_type" and isinstance(big, int) and not isinstance(big, bool):
            # a JSON integer too large for a double: a number, but not a finite one (as
            # 1e400 is refused), not "not a valid number"
            kind = "finite_number"
            reason = (
                f"a {len(str(abs(big)))}-digit integer is not a finite number (a 64-bit float "
                "ends near 1.8e308)"
            )
        got = e.get("input")
        if kind == "string_too_short" and isinstance(got, str) and got and not got.strip():
            # the text fields strip surrounding whitespace first: "String should have at
            # least 1 character" for 3 spaces sent (newcomer of 10 Dec)
            reason = f"is blank: {len(got)} whitespace characters and nothing else"
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            # pydantic names its class ("... or instance of Reading"): say what JSON is wanted
            reason = f"must be a JSON object, not {_json_kind(got)}"
        out.append({"field": ".".join(loc) or "(body)", "reason": reason, "type": kind})
    return out


def _json_kind(value: Any) -> str:
    """What JSON ``value`` is, in words ("an array", "null", "a string", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    return "an object of another shape"


def install_error_handlers(app: FastAPI) -> None:
    """Map :class:`GasleakError` and request validation errors to ``{"error", "detail"}``,
    and document that shape in the OpenAPI (:func:`document_errors`)."""
    document_errors(app)

    @app.exception_handler(GasleakError)
    async def _domain(_: Request, exc: GasleakError) -> JSONResponse:
        return _domain_response(exc)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _: ClientDisconnect) -> Response:
        # The client closed the connection before sending its whole body: nothing was
        # accepted, and nobody is left to answer. One line, no traceback.
        client = request.client.host if request.client else "?"
        path = request.url.path
        log.info("client %s disconnected mid-request: %s %s", client, request.method, path)
        return Response(status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
        return JSONResponse(
            {"error": error, "detail": exc.detail}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = request_errors(list(exc.errors()))
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=422)


#: The methods :func:`allowed_methods` asks the routes about (every one a route here uses).
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at ``request``'s path, sorted, for the
    ``Allow`` header of a 405 (RFC 9110 §15.5.6: the target resource's methods).

    Starlette's 405 lists the methods of the first route whose path matched only, and
    FastAPI makes one route per operation, so ``DELETE /api/keys`` answered ``Allow: GET``
    without POST, ``DELETE /api/devices/x`` ``Allow: GET`` without PUT and PATCH (newcomer
    of 2 Dec). Each method of :data:`ROUTE_METHODS` is tried against every route of the
    app with the public ``BaseRoute.matches`` (a full match takes it; FastAPI's included
    routers answer for their own routes); a mounted static folder takes GET and HEAD.
    HEAD is listed with GET (:class:`app.middleware.HeadAsGet` answers it).
    """
    # A fresh scope per probe, as the app received the request: a mount (the static
    # folders) has moved its prefix into root_path, and FastAPI keeps per-request state in
    # the scope that a probe must not change.
    scope = request.scope
    path, root = scope["path"], scope.get("app_root_path", scope.get("root_path", ""))
    methods: set[str] = set()
    for route in request.app.router.routes:
        for method in ROUTE_METHODS:
            probe = {"type": "http", "method": method, "path": path, "root_path": root}
            if route.matches(probe)[0] != Match.FULL:
                continue
            if isinstance(route, Mount):  # every method matches a mount's path
                if isinstance(route.app, StaticFiles):
                    methods.update(("GET", "HEAD"))
                break
            methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _domain_response(exc: GasleakError) -> JSONResponse:
    """The HTTP answer of a domain error: its status, :func:`error_body` and headers."""
    headers = exc.headers
    if isinstance(exc, Overloaded):  # RFC 9110 10.2.3: delay-seconds, an integer
        headers = {**(headers or {}), "Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)


_PARAMS = ("query", "path", "header", "cookie")


def request_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's request validation errors -> ``[{"field", "reason", "type"}]``, in order.

    A body error is named by its path in the body (:func:`pydantic_errors`). A parameter
    error (query, path, header, cookie) is named by the parameter alone: not by a repeated
    parameter's position or the union member pydantic tried (``/api/devices?state=bogus``
    named ``state.0.literal['normal']``: newcomer); one value that fails every member of a
    union is one error listing what each member takes; a repeated parameter's bad value is
    quoted.
    """
    out: list[dict[str, Any]] = []
    groups: dict[tuple[str, object], list[dict[str, Any]]] = {}
    for e in errors:
        loc = tuple(e.get("loc", ()))
        if not loc or loc[0] not in _PARAMS:
            out += pydantic_errors([e], drop_prefix=1)
            continue
        name = str(loc[1]) if len(loc) > 1 else f"({loc[0]})"
        pos = loc[2] if len(loc) > 2 and isinstance(loc[2], int) else None
        key = (name, pos)
        if key not in groups:
            groups[key] = []
            out.append({"field": name, "key": key})  # filled below, in first-seen order
        groups[key].append(e)
    return [_param_error(groups[x.pop("key")]) if "key" in x else x for x in out]


def _param_error(es: list[dict[str, Any]]) -> dict[str, Any]:
    """One parameter value's errors (several: the members of a union) as one entry."""
    first = es[0]
    loc = tuple(first.get("loc", ()))
    name = str(loc[1]) if len(loc) > 1 else f"({loc[0]})"
    expected = [str(x) for e in es if (x := (e.get("ctx") or {}).get("expected"))]
    if len(es) > 1 and len(expected) == len(es):
        reason = "Input should be " + " or ".join(expected)
    else:
        reason = pydantic_errors([{**first, "loc": ()}])[0]["reason"]
    if len(loc) > 2 and isinstance(loc[2], int) and "input" in first:
        got = first["input"]
        reason += f"; got {shown(got) if isinstance(got, str) else shown(repr(got), quote=False)}"
    return {"field": name, "reason": reason, "type": first["type"]}


class Conflict(GasleakError):
    """The request contradicts the resource's state (e.g. acknowledging a resolved alert)."""

    status = 409
    error = "conflict"
