"""Ingestion: readings by HTTP POST and by WebSocket."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect

from app.deps import StateDep
from app.errors import UNSUPPORTED_MEDIA_TYPE, GasleakError, Overloaded, error_body
from app.routing import (
    StrictRoute,
    read_body,
    repeated_errors,
    require_json,
    unknown_query_errors,
)
from app.schemas.readings import IngestResult, Reading
from app.security import GatewayDep, authorize_ws
from app.services.frames import FramePipeline, Refusal
from app.services.ingest import MAX_MESSAGE_BYTES
from app.services.principal import INGEST
from app.services.ratelimit import rate_key

router = APIRouter(tags=["readings"], route_class=StrictRoute)
#: Largest body taken, bytes: uvicorn's default WebSocket frame limit, so both ways agree.
#: 10,000 readings of ~150 bytes need 1.5 MB. Other routes take ``max_body_bytes`` (1 MiB).
MAX_BODY_BYTES = MAX_MESSAGE_BYTES
CLOSE_REVOKED = 1008  # RFC 6455 "Policy Violation": the socket's key was revoked
CLOSE_POLICY = 1008  # the same code for invalid query parameters, as on /ws/alerts
#: The query parameters ``/ws/readings`` takes: a one-time ``ticket`` (``POST /api/ws-ticket``).
WS_QUERY = frozenset({"ticket"})

_ONE = Reading.model_json_schema()
_BODY_SCHEMA = {
    "anyOf": [_ONE, {"type": "array", "items": _ONE, "maxItems": 10_000, "title": "Batch"}]
}


@router.post(
    "/api/readings",
    response_model=IngestResult,
    summary="Send one reading or an array of up to 10,000",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _BODY_SCHEMA}},
        }
    },
    responses={
        403: {"description": "A gateway key posting a device outside its device-id prefix"},
        413: {"description": "Body over 16 MiB"},
        415: {"description": UNSUPPORTED_MEDIA_TYPE},
        429: {
            "description": "Overloaded or over the rate limit: nothing accepted; "
            "send again after Retry-After seconds",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
        422: {"description": "Not readings at all, or a single reading that fails validation"},
    },
)
async def post_readings(request: Request, state: StateDep, who: GatewayDep) -> IngestResult:
    """Store readings; good readings of a batch are kept when others are rejected.

    Gateway and admin keys. A gateway key limited to a device-id prefix gets a 403 naming
    every reading outside it, and none of the message is stored (a misconfigured gateway
    should fail loudly, not lose part of every batch). Beyond capacity (or over the key's
    rate limit) the whole message is refused with 429 and ``Retry-After``, before it is
    decoded; nothing of it was accepted."""
    require_json(request)
    raw = await read_body(request, MAX_BODY_BYTES)
    await state.admission.admit(rate_key(request, who), "http")
    return await state.ingestor.ingest_raw(raw, device_prefix=who.device_prefix, key_id=who.key_id)


@router.websocket("/ws/readings")
async def ws_readings(ws: WebSocket, state: StateDep) -> None:
    """One reading or an array per text frame; each frame gets an IngestResult reply, sent
    once its readings are queued (so a producer that waits for replies is slowed to the
    service's pace), or an error frame: ``{"error", "detail"}`` (``invalid_body``,
    ``forbidden``; ``overloaded`` with ``retry_after_s``: nothing of that frame was accepted;
    ``unavailable`` in cluster mode when the stream did not take the readings: send the frame
    again). The connection stays open.

    Gateway and admin keys, at the handshake (header, or ``?ticket=``). A frame with a
    device outside the key's prefix gets a ``forbidden`` error frame; the socket stays open.
    Once the key is revoked, the next frame closes the socket (1008, ``API key revoked``).
    """
    who = await authorize_ws(ws, INGEST)
    if who is None:
        return
    key = rate_key(ws, who)
    await ws.accept()
    # a misspelt parameter is refused, as on REST and /ws/alerts (it was ignored: newcomer
    # of 9 Dec), before any frame is taken
    wrong = unknown_query_errors(ws.query_params, WS_QUERY) + repeated_errors(
        ws.query_params, lambda _: True
    )
    if wrong:
        await ws.send_json({"error": "invalid_request", "detail": wrong})
        await ws.close(code=CLOSE_POLICY, reason="invalid query parameters")
        return

    async def receive() -> str | bytes | None:
        try:
            msg = await ws.receive()
        except WebSocketDisconnect:
            return None
        if msg["type"] == "websocket.disconnect":
            return None
        raw: str | bytes = msg.get("text") or msg.get("bytes") or b""
        return raw

    async def handle(raw: str | bytes) -> str | Refusal:
        if not await state.keys.still_valid(who):
            raise _Revoked  # this frame is not stored
        try:
            await state.admission.admit(key, "ws")
            result = await state.ingestor.ingest_raw(
                raw, device_prefix=who.device_prefix, key_id=who.key_id
            )
            return result.model_dump_json()
        except Overloaded as exc:  # later frames wait for its resend (app.services.frames)
            return Refusal(json.dumps(error_body(exc)), exc.retry_after_s)
        except GasleakError as exc:  # an error frame; the connection stays open
            return json.dumps(error_body(exc))

    def refusal(reason: str, retry_after_s: float | None = None) -> Refusal:
        exc = state.admission.refuse("ws", reason)
        if retry_after_s is not None:  # the rest of the earlier refusal's wait
            exc.retry_after_s = round(max(retry_after_s, 0.001), 3)
        return Refusal(json.dumps(error_body(exc)), exc.retry_after_s)

    try:
        await FramePipeline(
            receive=receive,
            send=ws.send_text,
            handle=handle,
            shed=lambda: refusal("connection_backlog"),
            again=lambda left: refusal("after_refusal", left),
        ).run()
    except _Revoked:
        await ws.close(code=CLOSE_REVOKED, reason="API key revoked")


class _Revoked(Exception):
    """The socket's key was revoked since the handshake."""
