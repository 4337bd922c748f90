"""One error hierarchy for the service and the one place that maps it to HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


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
    """The body is larger than the service accepts in one message."""

    status = 413
    error = "too_large"


class Unavailable(GasleakError):
    """The service cannot take the request now (shutting down, model failed)."""

    status = 503
    error = "unavailable"


def pydantic_errors(errors: list[dict[str, Any]], *, drop_prefix: int = 0) -> list[dict[str, Any]]:
    """Pydantic ``ValidationError.errors()`` -> ``[{"field", "reason", "type"}]``.

    ``drop_prefix`` leading loc parts (e.g. the batch index or "body") are removed from the
    dotted field path.
    """
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())][drop_prefix:]
        out.append({"field": ".".join(loc) or "(body)", "reason": e["msg"], "type": e["type"]})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Map :class:`GasleakError` and request validation errors to ``{"error", "detail"}``."""

    @app.exception_handler(GasleakError)
    async def _domain(_: Request, exc: GasleakError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.error, "detail": exc.detail}, status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            {"error": error, "detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = pydantic_errors(list(exc.errors()), drop_prefix=1)
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=422)


class Conflict(GasleakError):
    """The request contradicts the resource's state (e.g. acknowledging a resolved alert)."""

    status = 409
    error = "conflict"
