"""ASGI middleware: ``HEAD`` on every ``GET`` route, request-latency metrics, a deadline
for receiving a request body, anti-framing headers, and a 422 for a ``/`` sent as ``%2F``
in a device id."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.schemas.readings import device_id_reason

if TYPE_CHECKING:
    from app.services.latency import ServiceMetrics

log = logging.getLogger(__name__)


class _BodyTimedOut(Exception):
    """Raised from ``receive`` when the body did not arrive in time."""


class BodyDeadline:
    """Answer 408 and close the connection when a request body arrives too slowly.

    The rule is Apache httpd's ``mod_reqtimeout`` body rule (its default
    ``body=20,MinRate=500``): the body must start within ``initial_s`` and the deadline then
    moves out by one second per ``min_rate_bps`` bytes received, so a client must keep sending
    at least that rate. uvicorn has no such timeout (its keep-alive timeout covers only idle
    time between requests), so without this a client that declares a ``Content-Length`` and
    sends nothing holds its connection, and a handler, forever (slowloris, CVE-2007-6750).
    Header-phase stalls happen inside uvicorn before any application code runs; a reverse
    proxy in front handles those (SECURITY.md).

    The 408 is JSON like every other error (``{"error": "request_timeout", "detail": [{"field":
    "body", ...}]}``) with ``Connection: close``; whatever the handler tries to send after the
    timeout is dropped. Requests whose body has arrived are never affected (a handler may
    wait on ``receive`` for a disconnect afterwards).

    Args:
        app: the wrapped ASGI app.
        initial_s: seconds allowed before the first body byte (and the base of the deadline).
        min_rate_bps: bytes per second a client must sustain after that.
    """

    def __init__(self, app: ASGIApp, *, initial_s: float, min_rate_bps: float) -> None:
        self.app = app
        self.initial_s = initial_s
        self.min_rate_bps = min_rate_bps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.initial_s
        complete = False
        timed_out = False
        started = False

        async def timed_receive() -> Message:
            nonlocal complete, deadline, timed_out
            if complete or timed_out:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                timed_out = True
                raise _BodyTimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            else:
                deadline += len(message.get("body", b"")) / self.min_rate_bps
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the handler's own reaction to the timeout; the 408 goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except _BodyTimedOut:
            pass
        except Exception:
            if not timed_out:
                raise
        if timed_out and not started:
            client = scope.get("client") or ("?", 0)
            log.info("request body too slow from %s:%s; 408", client[0], client[1])
            body = json.dumps(
                {
                    "error": "request_timeout",
                    "detail": [
                        {
                            "field": "body",
                            "reason": f"not received in time: the body must start within "
                            f"{self.initial_s:g} s and arrive at {self.min_rate_bps:g} "
                            "bytes/s or more",
                            "type": "timeout",
                        }
                    ],
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 408,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


class NoFraming:
    """Forbid every page of the service to be shown in a frame of another site
    (clickjacking: the console's Acknowledge or Silence button under a decoy page).

    Each HTTP response gets ``X-Frame-Options: DENY`` (RFC 7034; what older browsers read)
    and, unless the route set its own policy (the console page sets a fuller one with the
    same ``frame-ancestors 'none'``), ``Content-Security-Policy: frame-ancestors 'none'``
    (CSP Level 2, which browsers prefer to X-Frame-Options). OWASP asks this of API
    answers too, so it is on every response, not only the console's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-frame-options"] = "DENY"
                headers.setdefault("content-security-policy", "frame-ancestors 'none'")
            await send(message)

        await self.app(scope, receive, with_headers)


#: A device-id path segment (``/api/devices/{device_id}...``) holding an encoded ``/``.
_SLASH_IN_ID = re.compile(rb"/api/devices/([^/]*%2[Ff][^/]*)")


class SlashInDeviceId:
    """Refuse a device id holding ``/`` sent as ``%2F`` in a path with 422 naming
    ``device_id``, as any other character a device id may not hold is refused.

    The router matches the decoded path, in which ``%2F`` is a ``/`` like any other:
    ``PUT /api/devices/a%2F1`` matched no route and was a bare ``404 {"detail": "Not
    Found"}``, and ``GET /api/devices/a%2Freadings`` was answered as the readings of device
    ``a`` (newcomer of 2 Dec). The raw path (ASGI ``raw_path``) still shows the encoded
    slash, so it is looked for there, before routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        m = _SLASH_IN_ID.search(scope.get("raw_path") or b"") if scope["type"] == "http" else None
        if m is None:
            await self.app(scope, receive, send)
            return
        device_id = unquote(m.group(1).decode("ascii", "replace"))
        detail = {
            "field": "device_id",
            "reason": device_id_reason(device_id),
            "type": "string_pattern_mismatch",
        }
        answer = JSONResponse({"error": "invalid_request", "detail": [detail]}, status_code=422)
        await answer(scope, receive, send)


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
