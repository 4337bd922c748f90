"""ASGI middleware: ``HEAD`` on every ``GET`` route, and request-latency metrics."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from app.services.latency import ServiceMetrics


class HeadAsGet:
    """Answer ``HEAD`` as the ``GET`` of the same path would, without the body (RFC 9110
    §9.3.2): headers, ``Content-Length`` included, are those of the ``GET``. FastAPI routes
    declare ``GET`` only, so without this every ``HEAD`` is a 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # swallow streamed chunks; the last (empty) one ends the response
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy: the server's own scope must stay HEAD, or uvicorn expects Content-Length
        # bytes of body and fails the response ("Response content shorter than
        # Content-Length", connection reset). Outer middleware (RequestTimer) reads the
        # matched route from the scope, so it is copied back.
        child = dict(scope, method="GET")
        try:
            await self.app(child, receive, send_headers_only)
        finally:
            for key in ("route", "endpoint", "path_params"):
                if key in child:
                    scope.setdefault(key, child[key])


class RequestTimer:
    """Observe each HTTP request's duration in ``metrics.request_seconds``, labelled by method,
    route template (``/api/devices/{device_id}``, not the raw path, so labels stay few) and
    status code. Requests matching no route are labelled ``(unmatched)``."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, method = 500, scope["method"]
        t0 = time.perf_counter()

        async def remember_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            if path.startswith("/static"):
                path = "/static"
            self.metrics.request_seconds.labels(method, path, str(status)).observe(
                time.perf_counter() - t0
            )
