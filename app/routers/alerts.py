"""Alerts: list, detail, acknowledge, the event log, and live events over WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from app.deps import AlertsDep, EventLogDep, HubDep
from app.errors import InvalidRequest, request_errors
from app.routing import StrictRoute, repeated_errors, unknown_query_errors
from app.schemas.alerts import (
    MAX_ID,
    AckRequest,
    AlertDetail,
    AlertFilter,
    AlertPage,
    AlertState,
    EventList,
    EventOut,
    Kind,
    Severity,
)
from app.schemas.readings import device_id_ok, device_id_reason
from app.schemas.times import UtcDateTime
from app.security import VIEWER, AuditDep, KeysDep, OperatorDep, authorize_ws
from app.services.hub import EventFilter, Hub, Subscription
from app.services.principal import READ

router = APIRouter(tags=["alerts"], route_class=StrictRoute)

SEND_TIMEOUT_S = 10.0  # a subscriber that takes longer to accept one frame is dropped
#: A close frame to a subscriber that stopped reading waits for room in its send buffer:
#: the handler gives up after this long (as long as a send: one that reads again within it
#: gets the close and its resume id) and returns. The close waited until the keepalive
#: dropped the socket (40-50 s), its replay page held meanwhile (newcomer of 2 Dec); the
#: page is now let go before the close.
CLOSE_TIMEOUT_S = 10.0
#: A subscriber's sender gives the event loop a turn after this many sends: a burst reaches
#: one subscriber in a few turns, and S subscribers hold the loop for S x this many sends
#: at most (500 x 8 sends: ~0.1 s) rather than for all of a burst.
SENDS_PER_TURN = 8


CLOSE_POLICY = 1008  # RFC 6455 "Policy Violation": used for invalid query parameters
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "Try Again Later"
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert"},
    409: {"description": "Resolved or acked"},
}


def check_device_ids(device_ids: list[str] | None) -> None:
    """Refuse a ``device_id`` query filter that is not a device id (an empty one included):
    it could match nothing, and an empty page would hide the typo.

    Raises:
        InvalidRequest: naming ``device_id`` and why the first bad value is not a device id.
    """
    bad = [d for d in device_ids or () if not device_id_ok(d)]
    if bad:
        raise InvalidRequest(
            [
                {
                    "field": "device_id",
                    "reason": device_id_reason(bad[0]),
                    "type": "string_pattern_mismatch",
                }
            ]
        )


def _epoch(t: datetime | None) -> float | None:
    return None if t is None else t.timestamp()


@router.get(
    "/api/alerts",
    response_model=AlertPage,
    summary="Alerts, newest first",
    dependencies=[VIEWER],
)
async def list_alerts(
    alerts: AlertsDep,
    device_id: Annotated[list[str] | None, Query()] = None,
    alert_state: Annotated[list[AlertState] | None, Query(alias="state")] = None,
    kind: Annotated[list[Kind] | None, Query()] = None,
    severity: Annotated[
        list[Severity] | None,
        Query(
            description="The alert's peak_severity, its highest so far (a critical alarm "
            "de-escalated to warning is critical here), as /ws/alerts min_severity judges it"
        ),
    ] = None,
    opened_from: Annotated[
        UtcDateTime | None, Query(alias="from", description="RFC 3339 with a UTC offset")
    ] = None,
    opened_to: Annotated[
        UtcDateTime | None, Query(alias="to", description="RFC 3339 with a UTC offset")
    ] = None,
    # a string checked by app.errors.cursor_position, as on /api/audit and
    # /api/webhooks/deliveries: every bad cursor gets the one cursor reason
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AlertPage:
    """Filters combine with AND; a repeated filter matches any of its values."""
    check_device_ids(device_id)
    if opened_from is not None and opened_to is not None and not opened_from < opened_to:
        raise InvalidRequest([{"field": "from", "reason": "must be before `to`", "type": "range"}])
    return await alerts.list(
        device_ids=device_id,
        states=alert_state,
        kinds=kind,
        severities=severity,
        opened_from=_epoch(opened_from),
        opened_to=_epoch(opened_to),
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/api/alerts/{alert_id}",
    response_model=AlertDetail,
    responses=ERRORS,
    summary="One alert with its events",
    dependencies=[VIEWER],
)
async def get_alert(alert_id: str, alerts: AlertsDep) -> AlertDetail:
    """404 when the alert does not exist."""
    return await alerts.get(alert_id)


@router.post(
    "/api/alerts/{alert_id}/ack",
    response_model=AlertDetail,
    responses=ERRORS,
    summary="Acknowledge an open alert",
)
async def ack_alert(
    alert_id: str, body: AckRequest, alerts: AlertsDep, who: OperatorDep, audit: AuditDep
) -> AlertDetail:
    """Holds until the alert resolves; a latched alarm that has cleared resolves now.
    Operators and admins only; recorded in the audit log."""
    detail = await alerts.acknowledge(alert_id, author=body.author, comment=body.comment)
    await audit.record(
        who, "alert.ack", target=alert_id, detail={"author": body.author, "comment": body.comment}
    )
    return detail


@router.get(
    "/api/events",
    response_model=EventList,
    summary="Stored events after an id",
    responses={422: {"description": "`since` beyond the newest event id, or a bad parameter"}},
    dependencies=[VIEWER],
)
async def list_events(
    log: EventLogDep,
    since: Annotated[int, Query(ge=0, le=MAX_ID, description="Only events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    device_id: Annotated[list[str] | None, Query()] = None,
) -> EventList:
    """Oldest first: page on with ``since`` = the last ``event_id`` you got. A ``since``
    beyond the newest event id is refused (422, as ``/ws/alerts`` refuses it): an id this
    service never handed out (a cursor kept from another store, or a typo) would otherwise
    return nothing until new events passed it, every alert until then unseen. A
    ``device_id`` that is not a device id is refused as ``/api/alerts`` refuses it."""
    check_device_ids(device_id)
    if since > log.last_event_id and since > (newest := await log.newest_id()):
        raise InvalidRequest(
            [
                {
                    "field": "since",
                    "reason": f"{since} is beyond the newest event id ({newest}); page on "
                    "with an event_id you received",
                    "type": "less_than_equal",
                }
            ]
        )
    events = await log.read(since, device_ids=device_id, limit=limit)
    return EventList(
        events=[EventOut.model_validate(e) for e in events], last_event_id=log.last_event_id
    )


@router.websocket("/ws/alerts")
async def ws_alerts(ws: WebSocket, hub: HubDep, keys: KeysDep) -> None:
    """Push alert events as JSON text frames, filtered by device, kind and minimum severity.

    The first frame is ``{"type": "subscribed", "last_event_id": n, ...}``. With ``since``,
    every stored event after that id comes first, then live events, with no gap and no
    duplicate at the seam. Delivery is at least once across reconnects: drop events whose
    ``event_id`` you have seen. Silenced events are left out unless ``include_silenced=true``.
    A burst larger than ``subscriber_queue_max`` does not close a subscriber that keeps
    reading: it catches up from the store, in order. One that stops reading (a frame not
    taken within :data:`SEND_TIMEOUT_S`) or falls behind (its backlog grew for
    ``subscriber_behind_s`` while catching up) is closed with code 1013 and a reason naming
    the ``since`` to resume with. A subscriber holds at most one replay page
    (``replay_page`` events) of its own while it catches up.

    One key may have at most ``ws_subscribers_per_key`` subscribers open: the next gets one
    ``{"error": "too_many_subscribers", ...}`` frame and is closed with 1008.

    Authenticated at the handshake (viewer, operator or admin): ``Authorization: Bearer``,
    or ``?ticket=`` from ``POST /api/ws-ticket`` (both: the ticket must be good and of the
    header's key, else 401 naming ``ticket``); a cross-site ``Origin`` not on
    ``allowed_origins`` is refused. Once the key is revoked, the next event closes the
    socket instead (1008, ``API key revoked``).
    """
    who = await authorize_ws(ws, READ)
    if who is None:
        return
    await ws.accept()
    q = ws.query_params
    taken = frozenset(AlertFilter.model_fields) | {"ticket"}
    raw = {
        "device_id": q.getlist("device_id") or None,
        "kind": q.getlist("kind") or None,
        **{k: v for k, v in q.items() if k not in ("device_id", "kind", "ticket") and k in taken},
    }
    # a one-value parameter given twice is refused, as on REST (``?since=1&since=2`` was
    # taken as since=2: newcomer of 1 Dec 11:40); an unknown one in REST's words
    twice = unknown_query_errors(q, taken) + repeated_errors(
        q, lambda k: k not in ("device_id", "kind")
    )
    f: AlertFilter | None = None
    try:
        f = AlertFilter.model_validate(raw)
    except ValidationError as exc:
        # named as REST names a query parameter's error: by the parameter alone, a repeated
        # one's bad value quoted (``kind.0`` was the field: newcomer of 9 Dec)
        twice += request_errors([{**e, "loc": ("query", *e["loc"])} for e in exc.errors()])
    if f is None or twice:
        await ws.send_json({"error": "invalid_request", "detail": twice})
        await ws.close(code=CLOSE_POLICY, reason="invalid query parameters")
        return
    flt = EventFilter.of(f.device_id, f.kind, f.min_severity, f.include_silenced)
    if hub.full(who.owner):  # no await from here to the registration in subscribe
        # the credential the key came by: the header, or a ticket alone (a browser's; the
        # field said Authorization to a socket that sent none: newcomer of 2 Dec)
        by = "Authorization" if ws.headers.get("authorization") else "ticket"
        await ws.send_json(
            {
                "error": "too_many_subscribers",
                "detail": [
                    {
                        "field": by,
                        "reason": f"key {who.key_id or 'cli'} already has {hub.per_key} "
                        "/ws/alerts subscribers open, the most one key may have "
                        "(GASLEAK_WS_SUBSCRIBERS_PER_KEY); close one first",
                        "type": "too_many_subscribers",
                    }
                ],
            }
        )
        await _close(ws, CLOSE_POLICY, f"too many subscribers for this key ({hub.per_key})")
        return
    async with hub.subscribe(flt, since=f.since, owner=who.owner) as sub:
        if f.since is not None and f.since > sub.replay_upto:
            # an id this service never handed out: a client of another store, or a typo.
            # Waiting silently would skip every event up to that id.
            await ws.send_json(
                {
                    "error": "invalid_request",
                    "detail": [
                        {
                            "field": "since",
                            "reason": f"{f.since} is beyond the newest event id "
                            f"({sub.replay_upto}); resume with an event_id you received",
                            "type": "less_than_equal",
                        }
                    ],
                    "last_event_id": sub.replay_upto,
                }
            )
            await ws.close(code=CLOSE_POLICY, reason="invalid query parameters")
            return
        await ws.send_json(
            {
                "type": "subscribed",
                "last_event_id": sub.replay_upto,
                "since": f.since,
                "device_ids": f.device_id,
                "kinds": f.kind,
                "min_severity": f.min_severity,
                "include_silenced": f.include_silenced,
            }
        )
        sender = asyncio.create_task(_send_events(ws, sub, lambda: keys.still_valid(who), hub))
        receiver = asyncio.create_task(_wait_disconnect(ws))
        _, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


async def _send_events(
    ws: WebSocket,
    sub: Subscription,
    key_valid: Callable[[], Awaitable[bool]],
    hub: Hub | None = None,
) -> None:
    """Send the subscription's events until it ends (the subscriber fell behind while
    catching up from the store: ``Hub`` docstring), then close with 1013 and its resume id.
    A frame the socket does not take within :data:`SEND_TIMEOUT_S` (the subscriber stopped
    reading) closes it with 1013 too. Before each event, ``key_valid()``: False closes the
    socket (1008, its key was revoked). ``hub``: counts the 1013 closes (``Hub.dropped``).

    Each event is encoded once for every subscriber (``Hub.wire_text``), and every
    :data:`SENDS_PER_TURN` sends give the event loop a turn: a send that the socket takes
    at once never yields, so 500 subscribers each sent their whole backlog of a 300-alert
    burst in one piece, and ``/livez`` and ingest waited 3-12 s for all of it (newcomer of
    5 Dec)."""
    sent, n = sub.resume_id, 0
    events = aiter(sub)
    try:
        async for event in events:
            if not await key_valid():
                close = (CLOSE_POLICY, "API key revoked")
                break
            try:
                # not wait_for: it wraps each send in a task of its own, so every queued
                # event cost the event loop extra turns, and a burst of 15 events reached a
                # subscriber over ~0.1-0.4 s under load (README Performance); timeout()
                # adds none
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await ws.send_text(sub.wire_text(event))
            except TimeoutError:
                if hub is not None:
                    hub.dropped += 1
                close = (CLOSE_TRY_AGAIN, f"too slow; resume with since={sent}")
                break
            sent = event["event_id"]
            n += 1
            if n % SENDS_PER_TURN == 0:
                await asyncio.sleep(0)
        else:
            if hub is not None:
                hub.dropped += 1
            close = (CLOSE_TRY_AGAIN, f"falling behind; resume with since={sub.resume_id}")
    finally:
        # the replay page a stalled subscriber holds goes now, not when its close is sent
        await events.aclose()
    await _close(ws, *close)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Close with ``code`` and ``reason``, giving up after :data:`CLOSE_TIMEOUT_S` (a peer
    that stopped reading never makes room for the close frame); errors ignored."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code=code, reason=reason)


async def _wait_disconnect(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
