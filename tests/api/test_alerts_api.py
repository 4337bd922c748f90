"""Alerts REST and the resumable alert socket, in-process with the real lifespan and store.

Alerts are produced by the service's own policy and hub (the path the scorer's sink takes),
fed with probabilities directly so the lifecycle can be driven step by step.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
import websockets
from asgi_lifespan import LifespanManager

from app.alerting.events import AlertEvent
from app.config import Settings
from app.main import create_app
from app.state import AppState
from tests.conftest import auth_headers, free_port, reading, serve_in_loop

T0 = 1_767_225_600.0


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=auth_headers()
        ) as c:
            yield c, app.state.gasleak


#: Seconds between fed windows.
DT = 4.0


async def feed(
    state: AppState, device: str, probs: list[float], t0: float = T0, gas: float = 1000.0
) -> list[dict]:
    """Run probabilities through the policy and publish like the scorer's sink does, windows
    DT s apart (3 high windows then span the policy's 8 s alarm delay)."""
    out = []
    for i, p in enumerate(probs):
        e = state.policy.update(device, p, t0 + DT * i, gas_ppm=gas)
        out += await state.log.publish([e] if e else [])
    return out


async def test_ack_lifecycle_and_conflicts(app_client: tuple[httpx.AsyncClient, AppState]) -> None:
    c, state = app_client
    [raised] = await feed(state, "k1", [0.8] * 3)
    aid = raised["alert_id"]
    r = await c.post(f"/api/alerts/{aid}/ack", json={"author": " ann ", "comment": "on site"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "acknowledged" and body["acknowledged"]["author"] == "ann"
    assert [e["type"] for e in body["events"]] == ["alert.raised", "alert.acknowledged"]
    again = await c.post(f"/api/alerts/{aid}/ack", json={"author": "bob"})
    assert again.status_code == 409 and "already acknowledged by 'ann'" in again.json()["detail"]
    assert (await c.post("/api/alerts/nope/ack", json={"author": "x"})).status_code == 404
    bad = await c.post(f"/api/alerts/{aid}/ack", json={"comment": "no author"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "author"
    # escalation to critical is a new alarm to acknowledge: active again (since 2 Dec); resolve
    # ends it; a new leak is a new, active alert (6 high windows: the first alert's 4-window
    # run ended by itself, a burst, so the policy's learned debounce now asks twice that)
    events = await feed(state, "k1", [0.95] + [0.1] * 61 + [0.8] * 6, t0=T0 + 10)  # 60 s off-delay
    assert [(e["type"], e["state"]) for e in events] == [
        ("alert.updated", "active"),
        ("alert.resolved", "resolved"),
        ("alert.raised", "active"),
    ]
    assert (await c.post(f"/api/alerts/{aid}/ack", json={"author": "x"})).status_code == 409
    new = (await c.get(f"/api/alerts/{events[-1]['alert_id']}")).json()
    assert new["state"] == "active" and new["acknowledged"] is None
    old = (await c.get(f"/api/alerts/{aid}")).json()
    assert old["state"] == "resolved" and old["severity"] == "critical"
    # the critical alarm was never acknowledged; the warning's ack stays in the event log
    assert old["acknowledged"] is None and old["resolved_at"]
    log = (await c.get("/api/events", params={"device_id": "k1", "limit": 1000})).json()["events"]
    acks = [e["ack"]["comment"] for e in log if e["type"] == "alert.acknowledged"]
    assert acks == ["on site"]
    assert (await c.get("/api/alerts/nope")).status_code == 404


ClientAndState = tuple[httpx.AsyncClient, AppState]


async def test_list_filters_and_cursor_pages(app_client: ClientAndState) -> None:
    c, state = app_client
    for i in range(5):
        await feed(state, f"d{i % 2}", [0.8] * 3, t0=T0 + 100 * i)
    await feed(state, "d0", [0.1] * 61, t0=T0 + 1000)  # resolves d0 (60 s off-delay)
    seen, cursor = [], None
    while True:
        page = (
            await c.get("/api/alerts", params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        ).json()
        seen += [a["opened_at"] for a in page["alerts"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 2 and seen == sorted(seen, reverse=True)  # one open alert per device
    by_dev = (await c.get("/api/alerts", params={"device_id": "d1"})).json()["alerts"]
    assert [a["device_id"] for a in by_dev] == ["d1"]
    assert (await c.get("/api/alerts", params={"state": "resolved"})).json()["alerts"][0][
        "device_id"
    ] == "d0"
    window = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:50Z"}  # first raise
    assert len((await c.get("/api/alerts", params=window)).json()["alerts"]) == 1
    assert (await c.get("/api/alerts", params={"cursor": "abc"})).status_code == 422
    assert (await c.get("/api/alerts", params={"state": "open"})).status_code == 422
    events = (await c.get("/api/events", params={"since": 1, "limit": 2})).json()
    assert [e["event_id"] for e in events["events"]] == [2, 3]
    # a cursor beyond the newest id (kept from another store, a typo) is refused, as
    # /ws/alerts refuses it, instead of returning nothing until new events pass it
    newest = events["last_event_id"]
    assert (await c.get("/api/events", params={"since": newest})).json()["events"] == []
    far = await c.get("/api/events", params={"since": newest + 5})
    assert far.status_code == 422
    [err] = far.json()["detail"]
    assert err["field"] == "since" and f"newest event id ({newest})" in err["reason"]


async def test_readings_history_is_downsampled(
    app_client: tuple[httpx.AsyncClient, AppState],
) -> None:
    c, state = app_client
    now = time.time()
    batch = [reading("h1", now - 120 + i, 400.0 + i) for i in range(120)]
    assert (await c.post("/api/readings", json=batch)).json()["accepted"] == 120
    await state.recorder.flush()
    r = (await c.get("/api/devices/h1/readings", params={"bucket_s": 60})).json()
    assert r["bucket_s"] == 60 and sum(p["n"] for p in r["points"]) == 120
    assert r["points"][0]["gas_ppm_min"] == 400.0 and r["points"][-1]["gas_ppm_max"] == 519.0
    auto = (await c.get("/api/devices/h1/readings", params={"max_points": 4})).json()
    assert auto["bucket_s"] == 900 and len(auto["points"]) <= 4
    bad = await c.get(
        "/api/devices/h1/readings",
        params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "from"
    # an unknown device is a 404, as GET /api/devices/{id}; a known one with nothing in the
    # range an empty list
    unknown = await c.get("/api/devices/h2/readings")
    assert unknown.status_code == 404 and "h2" in str(unknown.json()["detail"])
    early = {"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}
    assert (await c.get("/api/devices/h1/readings", params=early)).json()["points"] == []


@pytest.fixture
async def uvicorn_app(settings: Settings) -> AsyncIterator[tuple[str, AppState]]:
    """The app under a real uvicorn on loopback, in this test's event loop."""
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            await asyncio.sleep(0.02)
    yield f"ws://127.0.0.1:{server.config.port}", app.state.gasleak
    server.should_exit = True
    await task


async def test_ws_resume_filters_and_seam(uvicorn_app: tuple[str, AppState]) -> None:
    base, state = uvicorn_app
    await feed(state, "a", [0.8] * 3)  # event 1 (warning)
    await feed(state, "b", [0.95] * 3)  # event 2 (critical)
    async with websockets.connect(
        base + "/ws/alerts?since=0&min_severity=critical", additional_headers=auth_headers()
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello["last_event_id"] == 2 and hello["min_severity"] == "critical"
        assert json.loads(await ws.recv())["event_id"] == 2  # replayed
        await feed(state, "a", [0.95])  # event 3: a escalates to critical -> live
        assert json.loads(await ws.recv())["event_id"] == 3
    async with websockets.connect(
        base + "/ws/alerts?since=1&device_id=a", additional_headers=auth_headers()
    ) as ws:
        await ws.recv()
        assert json.loads(await ws.recv())["event_id"] == 3
        with pytest.raises(TimeoutError):  # nothing else: b's events are filtered out
            await asyncio.wait_for(ws.recv(), 0.3)
    for query, field in (
        ("min_severity=bogus", "min_severity"),
        ("since=-5", "since"),
        ("kind=bogus", "kind"),  # named by the parameter, as on REST (was kind.0)
        ("devices=a", "devices"),
        ("device_id=", "device_id"),  # empty: refused as REST does, not a filter of nothing
        ("device_id=a&device_id=b%20c", "device_id"),
        ("since=1&since=2", "since"),  # one value, given twice: refused, as on REST
        ("min_severity=warning&min_severity=critical", "min_severity"),
    ):
        async with websockets.connect(
            base + "/ws/alerts?" + query, additional_headers=auth_headers()
        ) as ws:
            error = json.loads(await ws.recv())  # a bad filter is refused, not ignored
            assert error["error"] == "invalid_request", query
            assert error["detail"][0]["field"] == field, error
            if query.startswith("device_id=a&"):  # which of the values, quoted
                assert "'b c'" in error["detail"][0]["reason"], error
            if query == "devices=a":  # in REST's words (was pydantic's "Extra inputs ...")
                assert "unknown query parameter" in error["detail"][0]["reason"], error
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008


async def test_overflowing_subscriber_catches_up_from_the_store_and_stays_open(
    uvicorn_app: tuple[str, AppState],
) -> None:
    """A batch larger than the queue switches the subscriber to reading the store: it gets
    every event in order and stays subscribed for live ones (it was closed with 1013 until
    2 Dec; ``tests/api/test_alert_flood.py`` has the flood and the slow reader)."""
    base, state = uvicorn_app
    state.hub.queue_max = 2
    async with websockets.connect(base + "/ws/alerts", additional_headers=auth_headers()) as ws:
        await ws.recv()
        # one batch of 5 events is fanned out at once, faster than any socket: the queue fills
        await state.log.publish([await feed_body(state, f"o{i}") for i in range(5)])
        assert state.hub.overflows == 1
        got = [json.loads(await ws.recv())["event_id"] for _ in range(5)]
        [live] = await state.log.publish([await feed_body(state, "o5")])
        got.append(json.loads(await ws.recv())["event_id"])
    assert got == [1, 2, 3, 4, 5, live["event_id"]] == list(range(1, 7))
    assert state.hub.dropped == 0


async def feed_body(state: AppState, device: str) -> AlertEvent:
    """One raise event body from the policy, not yet published."""
    for i in range(3):
        e = state.policy.update(device, 0.8, T0 + DT * i)
    assert e is not None
    return e


async def test_a_worse_leak_re_alarms_an_acknowledged_alert_in_store_rest_and_socket(
    app_client: ClientAndState,
) -> None:
    """A leak alert raised at 600 ppm over a 400 ppm level and acknowledged, then 4,800 ppm:
    one ``alert.updated`` (``worsened``) is stored, pushed to subscribers, and the REST view
    shows the alert active, unacknowledged, with the 4,800 ppm peak; it can be acknowledged
    again (newcomer: no event, the 600 ppm peak kept)."""
    c, state = app_client

    async def window(t: float, gas: float) -> list[dict]:
        e = state.policy.update("w1", 0.98, t, gas_ppm=gas, level=400.0, scale=4.0, gas_level=gas)
        return await state.log.publish([e] if e else [])

    raised = [e for i in range(3) for e in await window(T0 + DT * i, 600.0)]
    aid = raised[0]["alert_id"]
    r = await c.post(f"/api/alerts/{aid}/ack", json={"author": "ann", "comment": "small"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    async with state.hub.subscribe() as sub:
        [worse] = await window(T0 + 20, 4800.0)
        pushed = sub.queue.get_nowait()
    assert pushed["event_id"] == worse["event_id"]
    assert (worse["type"], worse["reason"], worse["state"]) == (
        "alert.updated",
        "worsened",
        "active",
    )
    body = (await c.get(f"/api/alerts/{aid}")).json()
    assert body["state"] == "active" and body["acknowledged"] is None
    assert body["episode"]["peak_gas_ppm"] == 4800.0 and body["gas_ppm"] == 4800.0
    assert [e["type"] for e in body["events"]][-2:] == ["alert.acknowledged", "alert.updated"]
    r = await c.post(f"/api/alerts/{aid}/ack", json={"author": "bob", "comment": "evacuate"})
    assert r.status_code == 200 and r.json()["acknowledged"]["author"] == "bob"


async def test_a_read_after_posting_sees_the_alerts_of_those_readings(tmp_path) -> None:  # noqa: ANN001
    """Posting readings, then asking for events and alerts (or resetting the baseline, or
    viewing the device), sees the alert those readings raised, even while the scorer is
    still behind: here every batch waits 0.5 s for more
    windows, so the scoring of the posted windows ends well after the POST's answer."""
    import numpy as np

    settings = Settings(db_path=tmp_path / "g.db", batch_max_delay_ms=500)
    rng = np.random.default_rng(3)
    gas = np.r_[420 + rng.normal(0, 2, 120), np.linspace(420, 672, 20), np.full(100, 672.0)]
    t0 = time.time() - 300
    rows = [reading("raw-1", t0 + i, float(g)) for i, g in enumerate(gas)]
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        state: AppState = app.state.gasleak
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=auth_headers()
        ) as c:
            r = await c.post("/api/readings", json=rows)
            assert r.status_code == 200 and not r.json()["rejected"], r.text
            assert state.scorer.pending > 0  # the scorer is behind the answer
            view = (await c.get("/api/devices/raw-1")).json()
            assert [a["kind"] for a in view["alerts"]] == ["leak"], view  # the view waited
            # a baseline reset right away sees the leak alert of readings just posted
            # (newcomer: 200 and a level relearned on the leak; the guard lost the race)
            rows2 = [reading("raw-2", t0 + i, float(g)) for i, g in enumerate(gas)]
            assert (await c.post("/api/readings", json=rows2)).status_code == 200
            assert state.scorer.pending > 0
            loose = {"by": "ann", "force": "yes"}
            bad = await c.post("/api/devices/raw-2/baseline-reset", json=loose)
            assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "force"
            reset = await c.post("/api/devices/raw-2/baseline-reset", json={"by": "ann"})
            assert reset.status_code == 409, reset.text
            events = (await c.get("/api/events", params={"device_id": "raw-1"})).json()
            assert state.scorer.pending == 0
            raised = [e for e in events["events"] if e["type"] == "alert.raised"]
            assert [e["kind"] for e in raised] == ["leak"], events
            alerts = (await c.get("/api/alerts", params={"device_id": "raw-1"})).json()
            assert [a["kind"] for a in alerts["alerts"]] == ["leak"]


async def test_a_min_severity_subscriber_hears_a_de_escalated_critical_alarm_end(
    tmp_path,  # noqa: ANN001
) -> None:
    """The tester's ``minsev.py``: latching off, 13,000 ppm for 30 s, 6,000 ppm for 90 s,
    then clean air: the threshold alarm is raised critical, de-escalated to warning and
    resolved as a warning. A ``min_severity=critical`` subscriber got only the raise and
    took the alarm for open forever. Now the later events of an alert that reached the
    subscriber's severity reach it too: live, on a resumed replay (``since``), and after a
    restart between the raise and the de-escalation (the hub learns the open alert's
    peak from the store). Other alerts' warnings stay out."""
    settings = Settings(db_path=tmp_path / "m.db", model_enabled=False, latch_critical=False)
    want = [
        ("alert.raised", "critical", "high"),
        ("alert.updated", "warning", "de-escalated"),
        ("alert.resolved", "warning", "all clear"),
    ]

    def rows(device: str, parts: list[tuple[float, int]], t0: float) -> list[dict]:
        gases = [g for g, n in parts for _ in range(n)]
        return [reading(device, t0 + i, g) for i, g in enumerate(gases)]

    async def got(ws: websockets.ClientConnection, n: int) -> list[dict]:
        out = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for _ in range(n)]
        with pytest.raises(TimeoutError):  # and nothing else
            await asyncio.wait_for(ws.recv(), 0.3)
        return out

    def short(events: list[dict]) -> list[tuple[str, str, str]]:
        return [(e["type"], e["severity"], e["reason"]) for e in events]

    t0 = time.time() - 3600
    async with serve_in_loop(settings) as (base, _):
        ws_base = base.replace("http://", "ws://") + "/ws/alerts"
        async with (
            httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as http,
            websockets.connect(
                ws_base + "?min_severity=critical", additional_headers=auth_headers()
            ) as ws,
        ):
            assert json.loads(await ws.recv())["type"] == "subscribed"
            # a warning of another device, never critical: not for this subscriber
            warn = rows("warn-1", [(420.0, 60), (6_000.0, 30), (420.0, 90)], t0)
            crit = rows("nolatch-1", [(420.0, 60), (13_000.0, 30), (6_000.0, 90), (420.0, 90)], t0)
            r = await http.post("/api/readings", json=warn + crit)
            assert r.status_code == 200 and r.json()["rejected"] == [], r.text
            live = await got(ws, 3)
        assert short(live) == want
        assert {e["device_id"] for e in live} == {"nolatch-1"}
        async with websockets.connect(
            ws_base + "?since=0&min_severity=critical", additional_headers=auth_headers()
        ) as ws:
            await ws.recv()
            assert [e["event_id"] for e in await got(ws, 3)] == [e["event_id"] for e in live]
        async with websockets.connect(
            ws_base + f"?since={live[0]['event_id']}&min_severity=critical",
            additional_headers=auth_headers(),
        ) as ws:  # resumed after the raise: the rest of the alarm
            await ws.recv()
            assert short(await got(ws, 2)) == want[1:]
    # a restart while the critical alarm is open: its de-escalation still passes
    crit = rows("nolatch-2", [(420.0, 60), (13_000.0, 30)], t0)
    async with (
        serve_in_loop(settings) as (base, _),
        httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as http,
    ):
        assert (await http.post("/api/readings", json=crit)).json()["rejected"] == []
    rest = rows("nolatch-2", [(6_000.0, 90), (420.0, 90)], t0 + 90)
    async with serve_in_loop(settings) as (base, _):
        ws_base = base.replace("http://", "ws://") + "/ws/alerts"
        async with (
            httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as http,
            websockets.connect(
                ws_base + "?min_severity=critical&device_id=nolatch-2",
                additional_headers=auth_headers(),
            ) as ws,
        ):
            await ws.recv()
            assert (await http.post("/api/readings", json=rest)).json()["rejected"] == []
            assert short(await got(ws, 2)) == want[1:]
