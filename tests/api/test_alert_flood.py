"""An alarm flood on ``/ws/alerts``, over a real uvicorn on loopback with real WebSocket
clients: a burst larger than the subscriber queue reaches every subscriber that keeps
reading, in order, and closes none of them; a subscriber that stops reading is still
closed with 1013 and resumes with ``since`` without a gap.

Before 2 Dec one POST raising 2,500 threshold alarms closed an idle, fast subscriber with
1013 after 1,000 events (``subscriber_queue_max``): the fan-out filled every subscriber's
queue at once, so in an alarm flood every console dropped together (a tester's
``t_burst.py``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.alerting.events import AlertEvent, AlertState, EventType, Kind, Severity
from app.config import Settings
from app.routers import alerts as alerts_router
from app.state import AppState
from tests.conftest import auth_headers, serve_in_loop

QUEUE = 50  # subscriber_queue_max for these tests: every burst below is many times larger


def flood_settings(tmp_path: Path) -> Settings:
    """A small subscriber queue; no model (the safety rules raise the threshold alarms)."""
    return Settings(
        db_path=tmp_path / "gasleak.db", subscriber_queue_max=QUEUE, model_enabled=False
    )


async def read_all(
    ws: websockets.ClientConnection,
    until: Any,
    idle_s: float = 10.0,
    sent: asyncio.Event | None = None,
) -> tuple[list[int], str]:
    """Event ids received until ``until()`` is true of them, and how it ended: ``"ok"``, or
    ``"closed <code> <reason>"``, or ``"idle"`` (nothing for ``idle_s`` seconds, counted
    once ``sent`` is set where given: on a loaded machine the POST that raised the events
    can answer more than ``idle_s`` after its last event was fanned out, and the reader,
    all events in hand, was "idle" while the test still waited for the answer). ``until``
    is asked again when the wait ends: a reader whose last event came before ``sent`` was
    set sat in that wait, every event in hand, and came back "idle" (a loaded CI run of
    10 Dec: ``('idle', 600)`` with all 600)."""
    got: list[int] = []
    while not until(got):
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), idle_s))
        except TimeoutError:
            if until(got):  # every event came before ``sent`` was set: nothing more is due
                break
            if sent is not None and not sent.is_set():
                continue
            return got, "idle"
        except websockets.ConnectionClosed as e:
            return got, f"closed {e.rcvd and e.rcvd.code} {e.rcvd and e.rcvd.reason}"
        if "event_id" in frame:
            got.append(frame["event_id"])
    return got, "ok"


async def test_a_burst_of_threshold_alarms_reaches_fast_subscribers_whole_and_in_order(
    tmp_path: Path,
) -> None:
    """One POST of 600 devices over the set point (12 times the queue): both subscribers
    get every event, ids strictly increasing with no gap, and neither is closed."""
    n = 600
    async with serve_in_loop(flood_settings(tmp_path)) as (base, app):
        state: AppState = app.state.gasleak
        url = base.replace("http", "ws", 1) + "/ws/alerts"
        subs = [await websockets.connect(url, additional_headers=auth_headers()) for _ in "ab"]
        for ws in subs:
            assert json.loads(await ws.recv())["type"] == "subscribed"
        done = asyncio.Event()

        def finished(got: list[int]) -> bool:
            return done.is_set() and len(got) >= state.hub.last_event_id

        readers = [asyncio.create_task(read_all(ws, finished, sent=done)) for ws in subs]
        now = time.time()
        body = [
            {"device_id": f"flood-{i}", "ts": now - 60, "gas_ppm": 13_000.0}
            | {"temperature_c": 22.0, "humidity_pct": 45.0}
            for i in range(n)
        ]
        async with httpx.AsyncClient(base_url=base, headers=auth_headers()) as http:
            r = await http.post("/api/readings", json=body, timeout=120)
            assert r.status_code == 200 and r.json()["accepted"] == n, r.text
            for _ in range(600):  # until every alarm is stored and fanned out
                last = state.hub.last_event_id
                await asyncio.sleep(0.1)
                if last >= n and state.hub.last_event_id == last:
                    break
        done.set()
        results = await asyncio.gather(*readers)
        for ws in subs:
            await ws.close()
        newest = state.hub.last_event_id
        assert newest >= n
        for got, how in results:
            assert how == "ok", (how, len(got))
            assert got == list(range(1, newest + 1))  # in order, no gap, no duplicate
        assert state.hub.overflows >= 2 and state.hub.dropped == 0  # the burst did overflow


def raised(i: int, t: float) -> AlertEvent:
    """A critical threshold raise of device ``slow-<i>``."""
    return AlertEvent(
        type=EventType.RAISED,
        alert_id=f"slow-{i}-{t}",
        device_id=f"slow-{i}",
        kind=Kind.THRESHOLD,
        severity=Severity.CRITICAL,
        state=AlertState.ACTIVE,
        ts=t,
        model_type="m",
        detail="x" * 4000,  # 10 MB in all: more than loopback buffers take (~3 MB here)
    )


async def test_a_subscriber_that_stops_reading_is_closed_and_resumes_without_a_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscriber that stops reading during a burst (small receive buffer, one frame
    held by the client library, no compression) is closed with 1013 once a frame waits
    longer than the send timeout (lowered to 0.5 s), while a fast one gets everything; the
    slow one resumes with the ``since`` in the close reason and ends with every id once."""
    monkeypatch.setattr(alerts_router, "SEND_TIMEOUT_S", 0.5)
    n = 2_500
    async with serve_in_loop(flood_settings(tmp_path)) as (base, app):
        state: AppState = app.state.gasleak
        url = base.replace("http", "ws", 1) + "/ws/alerts"
        fast = await websockets.connect(url, additional_headers=auth_headers())
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        slow = await websockets.connect(  # uncompressed: the burst is 10 MB on the wire
            url, additional_headers=auth_headers(), sock=sock, max_queue=1, compression=None
        )
        for ws in (fast, slow):
            assert json.loads(await ws.recv())["type"] == "subscribed"
        reader = asyncio.create_task(read_all(fast, lambda got: len(got) >= n))
        t = time.time()
        await state.log.publish([raised(i, t) for i in range(n)])
        fast_got, how = await reader
        assert how == "ok" and fast_got == list(range(1, n + 1))
        await asyncio.sleep(1.5)  # the slow one has not read for 3 send timeouts
        got, how = await read_all(slow, lambda got: False)
        await fast.close()
        assert how.startswith("closed 1013 too slow; resume with since="), (how, len(got))
        since = int(how.rsplit("=", 1)[1])
        assert got == list(range(1, since + 1)) and since < n
        async with websockets.connect(
            url + f"?since={since}", additional_headers=auth_headers()
        ) as again:
            assert json.loads(await again.recv())["type"] == "subscribed"
            rest, how = await read_all(again, lambda g: len(g) >= n - since)
        assert how == "ok" and got + rest == list(range(1, n + 1))
        assert state.hub.dropped == 1


async def test_a_subscriber_that_never_reads_is_freed_soon_after_its_send_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that reads nothing after its handshake: its send times out (lowered to
    0.5 s), and the close frame then waits for room in its send buffer that never comes.
    That close waited until the keepalive dropped the socket (40-50 s: a newcomer's 200
    such sockets held 2.3 MB each meanwhile, 2 Dec); it now gives up after
    CLOSE_TIMEOUT_S (lowered to 1 s), and the subscriber is gone from the hub."""
    monkeypatch.setattr(alerts_router, "SEND_TIMEOUT_S", 0.5)
    monkeypatch.setattr(alerts_router, "CLOSE_TIMEOUT_S", 1.0)
    async with serve_in_loop(flood_settings(tmp_path)) as (base, app):
        state: AppState = app.state.gasleak
        host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, port))
        sock.sendall(
            f"GET /ws/alerts HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: {auth_headers()['Authorization']}"
            "\r\n\r\n".encode()
        )
        await asyncio.sleep(0.3)
        assert state.hub.subscribers == 1
        try:
            t = time.time()
            await state.log.publish([raised(i, t) for i in range(2_500)])  # ~10 MB
            start = time.monotonic()
            while state.hub.subscribers and time.monotonic() - start < 10:
                await asyncio.sleep(0.1)
            assert state.hub.subscribers == 0, "the non-reading subscriber is still held"
            took = time.monotonic() - start
            assert took < 0.5 + alerts_router.CLOSE_TIMEOUT_S + 2.5, took
            assert state.hub.dropped == 1
        finally:
            sock.close()


async def test_one_key_may_hold_only_so_many_alert_subscribers(tmp_path: Path) -> None:
    """One viewer key opened 200 sockets (newcomer of 2 Dec). The next subscriber beyond
    ws_subscribers_per_key gets one too_many_subscribers frame and a 1008 close naming the
    setting; another key is not affected, and a closed subscriber frees its place."""
    s = Settings(db_path=tmp_path / "gasleak.db", ws_subscribers_per_key=2, model_enabled=False)
    async with serve_in_loop(s) as (base, app):
        state: AppState = app.state.gasleak
        url = base.replace("http", "ws", 1) + "/ws/alerts?since=0"
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.post(
                "/api/keys", json={"role": "viewer", "name": "v"}, headers=auth_headers()
            )
            viewer = auth_headers(r.json()["key"])
        first = [await websockets.connect(url, additional_headers=viewer) for _ in range(2)]
        for ws in first:
            assert json.loads(await ws.recv())["type"] == "subscribed"
        async with websockets.connect(url, additional_headers=viewer) as third:
            err = json.loads(await third.recv())
            assert err["error"] == "too_many_subscribers", err
            assert "GASLEAK_WS_SUBSCRIBERS_PER_KEY" in err["detail"][0]["reason"], err
            assert err["detail"][0]["field"] == "Authorization", err
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await third.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert "too many subscribers" in closed.value.rcvd.reason
        # a browser's socket comes with a ticket and no header: the field named
        # Authorization all the same (newcomer of 2 Dec)
        async with httpx.AsyncClient(base_url=base) as http:
            ticket = (await http.post("/api/ws-ticket", headers=viewer)).json()["ticket"]
        async with websockets.connect(f"{url}&ticket={ticket}") as by_ticket:
            err = json.loads(await by_ticket.recv())
            assert err["error"] == "too_many_subscribers", err
            assert err["detail"][0]["field"] == "ticket", err
        async with websockets.connect(url, additional_headers=auth_headers()) as admin:
            assert json.loads(await admin.recv())["type"] == "subscribed"  # its own count
        await first[0].close()
        for _ in range(50):
            if state.hub.subscribers == 1:
                break
            await asyncio.sleep(0.05)
        async with websockets.connect(url, additional_headers=viewer) as again:
            assert json.loads(await again.recv())["type"] == "subscribed"
        await first[1].close()
        assert state.hub.refused == 2
