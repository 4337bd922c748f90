"""The route class of every REST router: bodies over the route's size limit, unknown query
parameters and non-JSON bodies are refused before the handler runs, naming the parameter or
header.

- A JSON body over ``GASLEAK_MAX_BODY_BYTES`` (1 MiB) is a 413 naming the limit: a
  ``Content-Length`` over it before the body is read (and before the key is checked), a
  chunked body once the bytes received pass it (:func:`read_body`; ``POST /api/readings``
  reads its own body with it, up to 16 MiB).
- A query parameter the route does not declare is a 422 naming it (``?devce_id=x`` would
  otherwise return every alert, as if there were no filter); so is one that takes a single
  value given more than once (FastAPI keeps the last).
- A route that takes a JSON body refuses a body whose ``Content-Type`` is not
  ``application/json`` (or ``application/*+json``) with 415, and decodes it with
  :func:`app.jsonio.loads_strict` (a repeated key, NaN or deep nesting: 422 naming it;
  FastAPI's own decoding keeps the last of repeated keys and answers deep nesting with a
  bare 400).
"""

from __future__ import annotations

import email.message
import types
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Union, get_args, get_origin

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from app.errors import InvalidRequest, TooLarge, UnsupportedMediaType, too_large_detail
from app.jsonio import loads_strict
from app.schemas.times import shown


def _parsed(content_type: str) -> email.message.Message:
    """A ``Content-Type`` value parsed (media type and parameters)."""
    msg = email.message.Message()
    msg["content-type"] = content_type
    return msg


def _json_type(msg: email.message.Message) -> bool:
    """Whether a parsed ``Content-Type`` is ``application/json`` or ``application/*+json``."""
    sub = msg.get_content_subtype()
    return msg.get_content_maintype() == "application" and (sub == "json" or sub.endswith("+json"))


#: Charsets a JSON body may declare (hyphens and underscores dropped): UTF-8, and ASCII, a
#: subset of it.
_UTF8 = frozenset({"utf8", "usascii", "ascii"})


def require_json(request: Request) -> None:
    """Refuse a request whose body is not declared as JSON.

    Raises:
        UnsupportedMediaType: ``Content-Type`` missing, not JSON or another charset than
            UTF-8 (field "content-type"); a ``Content-Encoding`` other than identity (field
            "content-encoding").
    """
    value = request.headers.get("content-type")
    msg = _parsed(value or "")
    if not value or not _json_type(msg):
        got = f"got {shown(value)}" if value else "the header is missing"
        raise UnsupportedMediaType(
            [
                {
                    "field": "content-type",
                    "reason": f"the body must be sent as application/json; {got}",
                    "type": "unsupported_media_type",
                }
            ]
        )
    charset = msg.get_content_charset()
    if charset is not None and charset.replace("-", "").replace("_", "") not in _UTF8:
        raise UnsupportedMediaType(
            [
                {
                    "field": "content-type",
                    "reason": f"JSON is sent as UTF-8 (RFC 8259 section 8.1); got {shown(charset)}",
                    "type": "unsupported_media_type",
                }
            ]
        )
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        # RFC 9110 section 15.5.16: 415 for a content coding the server does not take (a
        # gzip body got a 422 saying it was not UTF-8 text: newcomer of 2 Dec)
        raise UnsupportedMediaType(
            [
                {
                    "field": "content-encoding",
                    "reason": f"bodies are taken uncompressed (identity); got {shown(coding)}",
                    "type": "unsupported_media_type",
                }
            ]
        )


#: The body limit of a route that takes JSON, bytes, when the app sets none
#: (``app.state.max_body_bytes``, from ``GASLEAK_MAX_BODY_BYTES``).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to pass ``limit`` bytes: a
    ``Content-Length`` over it before a byte is read, a body without one (chunked) once
    the bytes received pass it; never more than ``limit`` bytes (plus one chunk) are held.
    Without this, a route read the whole body before answering, even a 401: four
    unauthenticated 300 MiB bodies took the server from 564 MiB to 2.3 GiB (tester of 1 Dec).

    Raises:
        TooLarge: naming the declared size (when there is one) and ``limit``.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(too_large_detail(limit, int(declared)))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(too_large_detail(limit))
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # request.body() (FastAPI's own reading) returns it
    return body


def document_body_limits(
    router: APIRouter, limit: int, *, timeout_s: float, min_rate_bps: float
) -> None:
    """List 413 (a body over ``limit`` bytes, :func:`read_body`) and 408 (a body that does
    not arrive in time, :class:`app.middleware.BodyDeadline`) on every route of ``router``
    that takes a JSON body, in the OpenAPI; a route's own description (``POST
    /api/readings``: 16 MiB) is kept. The 408 was answered but listed nowhere (newcomer of
    2 Dec)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        if route.body_field is None and "requestBody" not in (route.openapi_extra or {}):
            continue  # no body read: the deadline never runs out
        route.responses.setdefault(
            413, {"description": f"Body over {limit} bytes ({limit / 2**20:g} MiB)"}
        )
        route.responses.setdefault(
            408,
            {
                "description": f"Body not received in time: it must start within {timeout_s:g} "
                f"s (`GASLEAK_BODY_TIMEOUT_S`) and arrive at {min_rate_bps:g} bytes/s or more "
                "(`GASLEAK_BODY_MIN_RATE_BPS`); the connection is closed"
            },
        )


def unknown_query(request: Request, allowed: frozenset[str]) -> None:
    """Refuse query parameters outside ``allowed``.

    Raises:
        InvalidRequest: one entry per unknown name (field = the name, cut short), at most
            :data:`MAX_LISTED` and one counting the rest.
    """
    if errors := unknown_query_errors(request.query_params, allowed):
        raise InvalidRequest(errors)


#: At most this many query parameters are named one by one in an error reply; the rest are
#: counted in one more entry (:func:`listed`). ``?x0&x1&...&x5999`` (a 35 KB request) was
#: answered with 6,000 entries, a 935 KB 422 (newcomer of 2 Dec).
MAX_LISTED = 10


def listed(errors: list[dict[str, str]], what: str) -> list[dict[str, str]]:
    """``errors`` as a reply lists them: the first :data:`MAX_LISTED`, then, when there are
    more, one entry (field ``(query)``, the type of the others) saying how many more
    ``what`` there are."""
    if len(errors) <= MAX_LISTED:
        return errors
    more = len(errors) - MAX_LISTED
    return [
        *errors[:MAX_LISTED],
        {
            "field": "(query)",
            "reason": f"and {more} more {what} not listed (the first {MAX_LISTED} are)",
            "type": errors[0]["type"],
        },
    ]


def unknown_query_errors(params: QueryParams, allowed: frozenset[str]) -> list[dict[str, str]]:
    """One error entry (field = the name, cut short by :func:`shown`) per query parameter
    outside ``allowed``, the first :data:`MAX_LISTED` of them and one entry counting the
    rest (:func:`listed`); REST and ``/ws/readings`` alike. A 60,000-character name was
    echoed whole (newcomer of 2 Dec)."""
    takes = ", ".join(sorted(allowed)) or "none"
    return listed(
        [
            {
                "field": shown(k, quote=False),
                "reason": f"unknown query parameter (this route takes: {takes})",
                "type": "extra_forbidden",
            }
            for k in dict.fromkeys(params.keys())
            if k not in allowed
        ],
        "unknown query parameters",
    )


def repeated_errors(params: QueryParams, single: Callable[[str], bool]) -> list[dict[str, str]]:
    """One error entry (field = the name, cut short) per query parameter that takes one
    value (``single(name)``) but was given more than once, the first :data:`MAX_LISTED` of
    them and one entry counting the rest; REST and ``/ws/alerts`` alike."""
    counts = Counter(k for k, _ in params.multi_items())
    return listed(
        [
            {
                "field": shown(k, quote=False),
                "reason": f"given {n} times; this parameter takes one value",
                "type": "repeated_parameter",
            }
            for k, n in counts.items()
            if n > 1 and single(k)
        ],
        "repeated query parameters",
    )


def repeated_query(request: Request, single: frozenset[str]) -> None:
    """Refuse a query parameter that takes one value given more than once (``?limit=5&
    limit=1000`` was answered with the last one: newcomer).

    Raises:
        InvalidRequest: one entry per repeated name (field = the name, cut short), at most
            :data:`MAX_LISTED` and one counting the rest.
    """
    twice = repeated_errors(request.query_params, single.__contains__)
    if twice:
        raise InvalidRequest(twice)


def _is_list(annotation: Any) -> bool:
    """Whether a parameter's annotation takes several values (a list, tuple or set, or an
    optional one)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_is_list(a) for a in get_args(annotation))
    return (origin or annotation) in (list, tuple, set, frozenset)


def single_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases) of a route and its dependencies that take one
    value."""
    names = {p.alias for p in dependant.query_params if not _is_list(p.field_info.annotation)}
    for sub in dependant.dependencies:
        names |= single_names(sub)
    return frozenset(names)


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameter names (aliases) a route and its dependencies declare."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_names(sub)
    return frozenset(names)


class StrictRoute(APIRoute):
    """:class:`fastapi.routing.APIRoute` that checks query names and JSON bodies first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, behind the checks of this module's docstring."""
        handler = super().get_route_handler()
        allowed = query_names(self.dependant)
        single = single_names(self.dependant)
        takes_body = self.body_field is not None

        async def checked(request: Request) -> Response:
            unknown_query(request, allowed)
            repeated_query(request, single)
            if takes_body:
                limit = getattr(request.app.state, "max_body_bytes", DEFAULT_MAX_BODY_BYTES)
                raw = await read_body(request, limit)
                if raw:
                    require_json(request)
                    request._json = loads_strict(raw)  # FastAPI's request.json() reads this
            return await handler(request)

        return checked
