"""Alert events: live over WebSocket, recent ones over REST."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from app.deps import StateDep
from app.schemas.alerts import AlertEvent, AlertList
from app.services.hub import Subscription

router = APIRouter(tags=["alerts"])

SEND_TIMEOUT_S = 10.0  # a subscriber that takes longer to accept one frame is dropped
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "Try Again Later"


@router.get("/api/alerts", response_model=AlertList, summary="Recent alert events")
async def list_alerts(
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    device_id: Annotated[list[str] | None, Query()] = None,
    since: Annotated[int | None, Query(ge=0, description="Only events after this id")] = None,
) -> AlertList:
    """Recent events, newest first."""
    events = state.hub.since(since or 0, device_id)[::-1][:limit]
    return AlertList(
        events=[AlertEvent.model_validate(e) for e in events],
        last_event_id=state.hub.last_event_id,
    )


@router.websocket("/ws/alerts")
async def ws_alerts(
    ws: WebSocket,
    state: StateDep,
    device_id: Annotated[list[str] | None, Query()] = None,
    since: Annotated[int | None, Query(ge=0)] = None,
) -> None:
    """Push alert events as JSON text frames; filter by repeatable ``device_id``.

    The first frame is ``{"type": "subscribed", "last_event_id": n}``. With ``since``, kept
    events after that id come first. A subscriber that falls ``subscriber_queue_max``
    events behind is closed with code 1013 and a reason naming the last event it got.
    """
    await ws.accept()
    async with state.hub.subscribe(device_id, since=since) as sub:
        await ws.send_json(
            {"type": "subscribed", "last_event_id": state.hub.last_event_id,
             "device_ids": device_id}
        )
        sender = asyncio.create_task(_send_events(ws, sub))
        receiver = asyncio.create_task(_wait_disconnect(ws))
        _, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


async def _send_events(ws: WebSocket, sub: Subscription) -> None:
    overflow = asyncio.create_task(sub.overflowed.wait())
    try:
        while True:
            get = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({get, overflow}, return_when=asyncio.FIRST_COMPLETED)
            if get not in done:
                get.cancel()
                reason = f"subscriber queue overflow; resume with since={sub.last_sent}"
                await ws.close(code=CLOSE_TRY_AGAIN, reason=reason)
                return
            event = get.result()
            try:
                await asyncio.wait_for(ws.send_json(event), SEND_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(Exception):
                    await ws.close(code=CLOSE_TRY_AGAIN, reason=f"too slow; resume with since={sub.last_sent}")
                return
            sub.last_sent = event["event_id"]
    finally:
        overflow.cancel()


async def _wait_disconnect(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
