"""REST API through the ASGI app with its lifespan (real model, in-process)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable
from datetime import datetime

import httpx
import numpy as np
import pytest
import websockets

from app.config import Settings
from app.schemas.readings import iso
from tests.conftest import auth_headers, reading, serve_in_loop

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z

JSON = {"content-type": "application/json"}


async def test_batch_with_bad_readings_keeps_and_scores_the_good(client: httpx.AsyncClient) -> None:
    batch = [reading("dev-1", T0 + i, 420.0 + i % 3) for i in range(70)]
    batch[10] = {**batch[10], "gas_ppm": float("nan")}
    del batch[20]["humidity_pct"]
    batch[30] = {**batch[30], "humidity_pct": 140}  # a probe's error value: the gas is taken
    r = await client.post(
        "/api/readings", content=httpx_json(batch), headers={"content-type": "application/json"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 68
    by_index = {b["index"]: b["errors"] for b in body["rejected"]}
    assert set(by_index) == {10, 20}
    assert by_index[10][0]["field"] == "gas_ppm" and "finite" in by_index[10][0]["reason"]
    assert by_index[20][0] == {
        "field": "humidity_pct",
        "reason": "Field required",
        "type": "missing",
    }
    [warned] = body["warnings"]
    assert warned["index"] == 30
    assert [(w["field"], w["type"]) for w in warned["warnings"]] == [
        ("humidity_pct", "ambient_out_of_range")
    ]
    dev = await wait_scored(client, "dev-1")
    assert dev["readings_seen"] == 68 and dev["buffer_fill"] == 60
    assert 0.0 <= dev["last_probability"] <= 1.0
    # the humidity of 140 %RH raised the probe's fault, the one alert
    alerts = (await client.get("/api/alerts", params={"device_id": "dev-1"})).json()["alerts"]
    assert [(a["kind"], a["severity"]) for a in alerts] == [("sensor_fault", "warning")]


def httpx_json(obj: object) -> bytes:
    """JSON with NaN written as the literal NaN, as a careless gateway would send it."""
    import json

    return json.dumps(obj).encode()


async def wait_scored(client: httpx.AsyncClient, device: str) -> dict:
    import asyncio

    for _ in range(200):
        dev = (await client.get(f"/api/devices/{device}")).json()
        if dev.get("last_probability") is not None:
            return dev
        await asyncio.sleep(0.02)
    raise AssertionError(f"device {device} never scored: {dev}")


async def test_single_invalid_reading_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/readings",
        json={"device_id": "a", "gas_ppm": -1, "temperature_c": 20, "humidity_pct": 50},
    )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_body"
    assert r.json()["detail"][0]["field"] == "gas_ppm"


async def test_body_that_is_not_readings_is_422(client: httpx.AsyncClient) -> None:
    for body in (b"hello", b"[1, 2]", b'"x"'):
        r = await client.post("/api/readings", content=body, headers=JSON)
        assert r.status_code in (200, 422)
        if body == b"[1, 2]":  # an array of non-objects: every item rejected, named by index
            assert r.status_code == 200 and r.json()["accepted"] == 0
            assert [x["index"] for x in r.json()["rejected"]] == [0, 1]
        else:
            assert r.status_code == 422 and r.json()["detail"][0]["field"] == "(body)"


async def test_out_of_order_reading_is_rejected_with_reason(client: httpx.AsyncClient) -> None:
    await client.post("/api/readings", json=reading("o", T0 + 10, 400.0))
    r = await client.post("/api/readings", json=[reading("o", T0 + 5, 400.0)])
    assert r.json()["accepted"] == 0
    assert r.json()["rejected"][0]["errors"][0]["type"] == "out_of_order"


async def test_unsorted_batch_is_stored_in_time_order(client: httpx.AsyncClient) -> None:
    batch = [reading("u", T0 + i, float(i)) for i in (3, 1, 2, 0)]
    r = await client.post("/api/readings", json=batch)
    assert r.json() == {"accepted": 4, "rejected": [], "warnings": []}
    dev = (await client.get("/api/devices/u")).json()
    assert dev["last_reading"]["gas_ppm"] == 3.0
    assert dev["last_ts"] == "2026-01-01T00:00:03.000Z"


async def test_unknown_device_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/devices/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_status_docs_metrics(client: httpx.AsyncClient) -> None:
    s = (await client.get("/api/status")).json()
    assert s["system_running"] is True
    assert s["model_status"]["is_trained"] is True
    assert s["model_status"]["model_type"] == "PyTorch LSTM+SVM"
    assert s["model_status"]["device"] == "cpu"
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    body = schema["paths"]["/api/readings"]["post"]["requestBody"]["content"]
    assert "anyOf" in body["application/json"]["schema"]
    one = body["application/json"]["schema"]["anyOf"][0]
    assert one["properties"]["humidity_pct"]["x-physical-range"] == [0, 100]
    m = await client.get("/metrics")
    assert m.status_code == 200 and "gasleak_readings_accepted_total" in m.text


async def test_alerts_list_is_empty_at_start(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/alerts", params={"limit": 5})
    assert r.json() == {"alerts": [], "next_cursor": None, "last_event_id": 0}
    assert (await client.get("/api/alerts", params={"limit": 0})).status_code == 422


async def test_oversized_body_is_413_and_unknown_route_keeps_the_error_shape(
    client: httpx.AsyncClient,
) -> None:
    big = b"[" + b" " * (16 * 1024 * 1024) + b"]"
    r = await client.post("/api/readings", content=big, headers=JSON)
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = await client.get("/api/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


async def test_one_high_reading_shows_the_same_alert_in_status_device_and_events(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/readings", json=reading("hot", T0, 20_000.0))  # > 25 % LEL
    assert r.json()["accepted"] == 1
    s = (await client.get("/api/status")).json()
    assert s["active_alerts"] == 1  # one threshold episode, raised critical at once
    [e] = (await client.get("/api/events")).json()["events"]
    assert (e["kind"], e["severity"], e["state"], e["gas_ppm"]) == (
        "threshold",
        "critical",
        "active",
        20_000.0,
    )
    assert e["episode"]["peak_gas_ppm"] == 20_000.0 and e["silenced"] is False
    device = (await client.get("/api/devices/hot")).json()  # issue 8: said "normal"
    assert (device["alert_state"], device["alert_id"], device["severity"]) == (
        "active",
        e["alert_id"],
        "critical",
    )
    assert device["alerts"] == [
        {
            "alert_id": e["alert_id"],
            "kind": "threshold",
            "severity": "critical",
            "state": "active",
            "conditions": None,  # sensor_fault only
        }
    ]
    assert device["last_reading"]["gas_ppm"] == 20_000.0 and device["buffer_fill"] == 1


async def test_deeply_nested_json_is_a_422_not_a_500(client) -> None:
    r = await client.post(
        "/api/readings",
        content=b"[" * 100_000 + b"]" * 100_000,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "(body)"


async def test_ids_beyond_64_bits_are_refused_naming_the_field(client) -> None:
    big = "99999999999999999999999"
    for url, field in (
        (f"/api/events?since={big}", "since"),
        (f"/api/webhooks/deliveries?event_id={big}", "event_id"),
    ):
        r = await client.get(url)
        assert r.status_code == 422, url
        assert field in str(r.json()["detail"]), r.json()


async def test_a_dangerous_reading_behind_a_newer_one_still_raises_the_alarm(
    client: httpx.AsyncClient,
) -> None:
    """A reading older than its device's newest is refused for the buffer (out of order), and
    out-of-order readings skipped the safety rules: a 20,000 ppm reading raised nothing
    (newcomer). Its gas is now checked against the set points; a clean late reading raises
    nothing. (The newest is 20 s ahead: within ordinary skew, so no clock step.)"""
    now = time.time()
    ahead = await client.post("/api/readings", json=reading("fut", now + 20, 420.0))
    assert ahead.json()["accepted"] == 1
    clean = await client.post("/api/readings", json=reading("fut", now, 430.0))
    assert clean.json()["rejected"][0]["errors"][0]["type"] == "out_of_order"
    assert (await client.get("/api/alerts", params={"device_id": "fut"})).json()["alerts"] == []
    r = await client.post("/api/readings", json=reading("fut", now + 1, 20_000.0))
    err = r.json()["rejected"][0]["errors"][0]
    assert err["type"] == "out_of_order" and "safety set points" in err["reason"]
    [alert] = (await client.get("/api/alerts", params={"device_id": "fut"})).json()["alerts"]
    assert alert["kind"] == "threshold" and alert["severity"] == "critical"


async def test_a_reading_stamped_minutes_ahead_does_not_blind_its_device(
    client: httpx.AsyncClient,
) -> None:
    """One reading stamped 290 s ahead (a gateway's clock set wrong, then put right) made
    every true reading of its device out of order until the server clock passed it: the
    model and the fault rules saw none of them (newcomer). A reading behind a newest one
    that stands more than CLOCK_STEP_S ahead of the server clock is the clock put right:
    stored, and the readings after it too."""
    now = time.time()
    ahead = await client.post("/api/readings", json=reading("skew", now + 290, 420.0))
    assert ahead.json()["accepted"] == 1
    for k in range(3):
        r = await client.post("/api/readings", json=reading("skew", now + k, 421.0 + k))
        assert r.json()["accepted"] == 1, r.json()
    view = (await client.get("/api/devices/skew")).json()
    assert view["readings_seen"] == 4, view
    # a redelivery behind an honest newest reading is still out of order
    late = await client.post("/api/readings", json=reading("skew", now, 421.0))
    assert late.json()["rejected"][0]["errors"][0]["type"] == "out_of_order"
    metrics = (await client.get("/metrics")).text
    assert "gasleak_readings_clock_step_total 1.0" in metrics


async def test_a_gateway_clock_reset_to_2000_is_placed_at_receipt_time(
    client: httpx.AsyncClient, monkeypatch
) -> None:
    """A gateway whose clock resets to 2000-01-01 (newcomer): every reading was
    ``out_of_order``, and a 20,000 ppm one opened a threshold alarm "in 2000". The alarm
    opens at the reading's receipt time; once the clock has failed to advance the device's
    time line over CLOCK_FAULT_S (shortened here) and 3 readings, its readings are stored at
    their receipt time with a ``clock`` sensor_fault open."""
    import app.services.buffers as buffers

    monkeypatch.setattr(buffers, "CLOCK_FAULT_S", 0.0, raising=False)
    now, y2000 = time.time(), 946_684_800.0
    assert (await client.post("/api/readings", json=reading("rtc", now, 420.0))).json()[
        "accepted"
    ] == 1
    r = await client.post("/api/readings", json=reading("rtc", y2000, 20_000.0))
    assert r.json()["rejected"][0]["errors"][0]["type"] == "out_of_order"
    [alarm] = (await client.get("/api/alerts", params={"device_id": "rtc"})).json()["alerts"]
    assert alarm["kind"] == "threshold" and alarm["opened_at"][:4] != "2000", alarm
    assert alarm["episode"]["opened_at"] == alarm["opened_at"]
    r = await client.post("/api/readings", json=reading("rtc", y2000 + 1, 420.0))
    assert r.json()["rejected"][0]["errors"][0]["type"] == "out_of_order"
    r = await client.post("/api/readings", json=reading("rtc", y2000 + 2, 421.0))
    assert r.json() == {"accepted": 1, "rejected": [], "warnings": []}
    alerts = (await client.get("/api/alerts", params={"device_id": "rtc"})).json()["alerts"]
    [fault] = [a for a in alerts if a["kind"] == "sensor_fault"]
    assert fault["opened_at"][:4] != "2000", fault
    detail = (await client.get(f"/api/alerts/{fault['alert_id']}")).json()
    assert detail["events"][0]["reason"] == "clock", detail
    assert "2000-01-01T00:00:02.000Z" in detail["events"][0]["detail"]
    view = (await client.get("/api/devices/rtc")).json()
    assert view["readings_seen"] == 2 and view["last_ts"][:4] != "2000", view


async def test_a_resent_message_is_reported_as_duplicates_and_not_stored_twice(
    client: httpx.AsyncClient,
) -> None:
    """A gateway that lost the reply resends the message: its readings are refused as
    ``duplicate`` (the same device, ts and values are stored already), so the window, the
    rules and the history hold each reading once."""
    now = time.time()
    body = [reading("resend", now - 2, 420.0), reading("resend", now - 1, 421.0)]
    assert (await client.post("/api/readings", json=body)).json()["accepted"] == 2
    again = (await client.post("/api/readings", json=body)).json()
    # the older one is behind the newest (out of order), the newest is the duplicate
    assert [e["errors"][0]["type"] for e in again["rejected"]] == ["out_of_order", "duplicate"]
    assert again["accepted"] == 0
    assert (await client.get("/api/devices/resend")).json()["readings_seen"] == 2


async def test_readings_without_ts_in_one_message_are_each_stored_http_and_websocket(
    settings: Settings,
) -> None:
    """README: a missing ``ts`` means the server's receive time. Readings of one device in
    one message without ``ts`` share it, and equal values among them (a steady sensor) were
    refused as "duplicate ... (a resend); it is not stored twice" (tester of 1 Dec): the
    client never sent them before. Each is stored now, over HTTP and the WebSocket alike."""
    steady = {"gas_ppm": 400.0, "temperature_c": 21.0, "humidity_pct": 40.0}
    async with (
        serve_in_loop(settings) as (base, _),
        httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as http,
        websockets.connect(
            base.replace("http", "ws", 1) + "/ws/readings", additional_headers=auth_headers()
        ) as ws,
    ):
        a = {"device_id": "nots-http", **steady}
        r = await http.post("/api/readings", json=[a, a, {**a, "ts": None}])
        assert r.json() == {"accepted": 3, "rejected": [], "warnings": []}, r.text
        view = (await http.get("/api/devices/nots-http")).json()
        assert view["readings_seen"] == 3, view
        b = {"device_id": "nots-ws", **steady}
        await ws.send(json.dumps([b, b, b]))
        assert json.loads(await ws.recv()) == {"accepted": 3, "rejected": [], "warnings": []}
        # a stamped resend is still refused as one
        c = reading("stamped", time.time(), 400.0)
        r = await http.post("/api/readings", json=[c, c])
        assert [e["errors"][0]["type"] for e in r.json()["rejected"]] == ["duplicate"], r.text


async def post_scored(
    client: httpx.AsyncClient,
    device: str,
    gas: Iterable[float],
    start: float,
    size: int = 100,
    dt: float = 1.0,
    lost: Iterable[int] = (),
) -> None:
    """Post ``gas`` (ppm, one reading every ``dt`` s from ``start``, epoch s) for ``device``
    in messages of ``size``, each fully accepted, then wait until every submitted window is
    scored. ``lost``: indices of readings never sent (a lossy link)."""
    gone = set(lost)
    rows = [reading(device, start + dt * i, float(g)) for i, g in enumerate(gas) if i not in gone]
    for j in range(0, len(rows), size):
        r = await client.post("/api/readings", json=rows[j : j + size])
        assert r.json()["accepted"] == len(rows[j : j + size]), r.text
    want = (await client.get("/api/status")).json()["windows_submitted"]
    while (await client.get("/api/status")).json()["windows_scored"] < want:
        await asyncio.sleep(0.05)


async def test_a_short_clean_spike_then_a_lost_reading_raises_nothing_and_a_leak_still_does(
    client: httpx.AsyncClient,
) -> None:
    """A clean 8-reading x2 spike at 1 Hz raises nothing; with the reading after it lost
    (a lossy LoRa/Zigbee link) the running median of the next one still took the spike's
    value, the run of high windows spanned the 8 s alarm delay, and a critical leak alert
    was raised (newcomer of 8 Dec, live and offline, both models). A leak after it, with a
    reading lost too, is raised within its first 12 s."""
    rng = np.random.default_rng(3)
    gas = np.round(420 + rng.normal(0, 4, 1100))
    gas[900:908] *= 2  # the spike: t = 900..907 s
    gas[1000:] *= 2  # the leak from t = 1000 s
    await post_scored(client, "lossy", gas[:1000], T0, lost=[908])
    assert (await client.get("/api/alerts", params={"device_id": "lossy"})).json()["alerts"] == []
    await post_scored(client, "lossy", gas[1000:], T0 + 1000, lost=[5])
    [alert] = (await client.get("/api/alerts", params={"device_id": "lossy"})).json()["alerts"]
    raised = datetime.fromisoformat(alert["opened_at"]).timestamp() - T0
    assert 1000 < raised <= 1012, alert


async def test_a_baseline_reset_during_a_leak_alert_is_refused_unless_forced(
    client: httpx.AsyncClient,
) -> None:
    """A step 400 -> 520 ppm (a sensor swap, or a leak: the service cannot tell) raises a
    leak alert. A baseline reset while it is open used to answer 200 with no warning, and the
    alert then resolved "all clear" on the level relearned from the gas itself (newcomer: a
    leak at 3,419 ppm). Now it is refused with 409 naming the alert and ``force``, nothing is
    reset; forced, the alert resolves at once as ``baseline_reset`` naming who and why, and
    the reset is still recorded (device view)."""
    import numpy as np

    rng = np.random.default_rng(4)
    t0 = time.time() - 3000
    # the step comes after the warm-up and the settling period (+30 % is under its bound)
    gas = np.r_[400 + rng.normal(0, 4, 700), 520 + rng.normal(0, 4, 100)]
    rows = [reading("swap", t0 + i, float(g)) for i, g in enumerate(gas)]
    for k in range(0, len(rows), 100):
        r = await client.post("/api/readings", json=rows[k : k + 100])
        assert r.json()["accepted"] == len(rows[k : k + 100])
    want = (await client.get("/api/status")).json()["windows_submitted"]
    while (await client.get("/api/status")).json()["windows_scored"] < want:
        await asyncio.sleep(0.05)
    [alert] = (await client.get("/api/alerts", params={"device_id": "swap"})).json()["alerts"]
    assert alert["kind"] == "leak" and alert["state"] == "active"
    url = "/api/devices/swap/baseline-reset"
    r = await client.post(url, json={"by": "ann", "reason": "sensor swap"})
    assert r.status_code == 409, r.text
    [err] = r.json()["detail"]
    assert err["field"] == "force" and alert["alert_id"] in err["reason"]
    assert (await client.get("/api/devices/swap")).json()["signal"]["last_reset"] is None
    r = await client.post(url, json={"by": "ann", "reason": "sensor swap", "force": True})
    assert r.status_code == 200, r.text
    assert r.json()["resolved_alert_id"] == alert["alert_id"]
    [after] = (await client.get("/api/alerts", params={"device_id": "swap"})).json()["alerts"]
    assert after["alert_id"] == alert["alert_id"] and after["state"] == "resolved", after
    events = (await client.get(f"/api/alerts/{alert['alert_id']}")).json()["events"]
    assert events[-1]["reason"] == "baseline_reset" and "by ann" in events[-1]["detail"]
    assert (await client.get("/api/devices/swap")).json()["signal"]["last_reset"]["by"] == "ann"


async def test_a_forced_reset_during_a_leak_that_goes_on_does_not_learn_the_leak(
    client: httpx.AsyncClient,
) -> None:
    """Newcomer: a forced baseline reset (as the 409 offers) during a leak that went on
    resolved the alert, and the warm-up learned the leak as clean air: 270 readings at 45x
    the old level later the device read ``normal``. Now the level before the reset is the
    warm-up's reference: a level learned far above it is kept out, the leak is raised again
    and the device view says so; ``trust_new_level`` (a replaced sensor that reads higher)
    takes the new level."""
    import numpy as np

    rng = np.random.default_rng(6)
    t0 = time.time() - 3000

    async def send(device: str, gas: np.ndarray, start: float) -> None:
        await post_scored(client, device, gas, start)

    async def leak_alerts(device: str) -> list[dict]:
        got = await client.get("/api/alerts", params={"device_id": device})
        return [a for a in got.json()["alerts"] if a["kind"] == "leak"]

    for device, trust in (("goes-on", False), ("new-sensor", True)):
        await send(device, np.r_[400 + rng.normal(0, 4, 300), 3000 + rng.normal(0, 20, 30)], t0)
        [first] = await leak_alerts(device)
        assert first["state"] == "active", first
        body = {"by": "ann", "reason": "false alarm?", "force": True}
        body |= {"trust_new_level": True} if trust else {}
        r = await client.post(f"/api/devices/{device}/baseline-reset", json=body)
        assert r.status_code == 200 and r.json()["resolved_alert_id"] == first["alert_id"]
        await send(device, 3000 + rng.normal(0, 20, 150), t0 + 330)
        view = (await client.get(f"/api/devices/{device}")).json()
        open_now = [a for a in await leak_alerts(device) if a["state"] != "resolved"]
        if trust:
            assert not open_now and "level_kept" not in view["signal"]["last_reset"], view
            assert view["signal"]["level"] > 2900
            continue
        assert len(open_now) == 1 and open_now[0]["alert_id"] != first["alert_id"], open_now
        kept = view["signal"]["last_reset"]["level_kept"]
        assert kept["learned"] > 2900 and 390 < kept["kept"] < 410, kept
        assert 390 < view["signal"]["level"] < 410 and view["signal"]["held"], view
        # the gas back at the old level clears it
        await send(device, 400 + rng.normal(0, 4, 200), t0 + 480)
        assert all(a["state"] == "resolved" for a in await leak_alerts(device))


async def test_a_reset_early_in_a_leak_before_its_alert_does_not_learn_the_leak(
    client: httpx.AsyncClient,
) -> None:
    """Newcomer (t_reset2.py): 30 min of clean air at 400 ppm, 5 readings at 800 ppm (inside
    the alarm delay: no alert yet), a plain baseline reset, then 800 ppm for 15 min. Only a
    reset over an open leak alert kept the old level as the warm-up's reference, so this one
    learned the leak as the clean level: no leak alert, and no ``level_kept``. Every reset
    keeps it now: the leak is raised once the warm-up ends. A reset whose warm-up learns clean
    air a little higher (+10 %, under the evidence bound) takes the new level, and
    ``trust_new_level`` (a replaced sensor that reads higher in clean air) takes any."""
    rng = np.random.default_rng(12)
    t0 = time.time() - 4000

    async def leak_alerts(device: str) -> list[dict]:
        got = await client.get("/api/alerts", params={"device_id": device, "kind": "leak"})
        return list(got.json()["alerts"])

    cases = (("early", 800.0, {}), ("recal", 440.0, {}), ("swap", 800.0, {"trust": True}))
    for device, after, opts in cases:
        clean = 400 + rng.normal(0, 4, 1800)
        await post_scored(client, device, np.r_[clean, after + rng.normal(0, 8, 5)], t0)
        assert await leak_alerts(device) == []  # within the alarm delay
        body: dict = {"by": "ann", "reason": "recalibrated"}
        body |= {"trust_new_level": True} if opts else {}
        r = await client.post(f"/api/devices/{device}/baseline-reset", json=body)
        assert r.status_code == 200 and r.json()["resolved_alert_id"] is None, r.text
        assert r.json()["keeps_old_level"] is not bool(opts), r.json()
        await post_scored(client, device, after + rng.normal(0, 8, 900), t0 + 1805)
        view = (await client.get(f"/api/devices/{device}")).json()
        alerts, reset = await leak_alerts(device), view["signal"]["last_reset"]
        if device != "early":
            assert alerts == [] and "level_kept" not in reset, (alerts, reset)
            assert view["signal"]["level"] == pytest.approx(after, rel=0.02), view["signal"]
            continue
        assert [a["state"] for a in alerts] == ["active"], alerts
        assert reset["level_kept"]["learned"] > 780, reset
        assert 395 < reset["level_kept"]["kept"] < 405, reset
        assert 395 < view["signal"]["level"] < 405, view["signal"]


async def test_a_flickering_leak_is_raised_and_a_worse_leak_re_alarms_its_acked_alert(
    client: httpx.AsyncClient,
) -> None:
    """Through the readings path with the shipped model (newcomer's two leaks): 4,000 ppm
    at 5 s on / 5 s off over a 400 ppm level raised no leak alert; a leak alert raised at
    600 ppm and acknowledged took in 4,800 ppm without an event, its peak kept at 600. Now
    the flicker raises one leak alert, and the worse leak re-alarms the acknowledged one:
    ``alert.updated`` ``worsened``, active again, the new peak in the REST view."""
    import numpy as np

    rng = np.random.default_rng(5)
    t0 = time.time() - 3000
    clean = 400 + rng.normal(0, 4, 700)  # past the warm-up and the settling period
    k = np.arange(120)
    flick = np.where(k % 10 < 5, 4000.0, 400.0) + rng.normal(0, 4, 120)

    async def send(device: str, gas: np.ndarray, start: float) -> None:
        await post_scored(client, device, gas, start)

    async def alerts(device: str) -> list[dict]:
        got = await client.get("/api/alerts", params={"device_id": device})
        return list(got.json()["alerts"])

    await send("flicker", np.r_[clean, flick], t0)
    [fl] = await alerts("flicker")
    assert fl["kind"] == "leak" and fl["state"] == "active"

    await send("worse", np.r_[clean, 600 + rng.normal(0, 4, 60)], t0)
    [alert] = await alerts("worse")
    r = await client.post(f"/api/alerts/{alert['alert_id']}/ack", json={"author": "ann"})
    assert r.status_code == 200 and r.json()["state"] == "acknowledged", r.text
    await send("worse", 4800 + rng.normal(0, 20, 30), t0 + 760)
    body = (await client.get(f"/api/alerts/{alert['alert_id']}")).json()
    updates = [e for e in body["events"] if e["type"] == "alert.updated"]
    assert [e["reason"] for e in updates] == ["worsened"], body["events"]
    assert body["state"] == "active" and body["acknowledged"] is None
    assert body["episode"]["peak_gas_ppm"] > 4700


async def test_dangerous_gas_stamped_too_far_ahead_still_raises_the_threshold_alarm(
    client: httpx.AsyncClient,
) -> None:
    """A gateway 400 s fast (newcomer): its readings are refused (``ts`` more than 5 min
    ahead), and 30,000 ppm raised nothing, alone or in a batch. The gas still goes to the set
    points, at its receipt time, naming the refused stamp; clean air raises nothing."""
    ahead = time.time() + 400
    r = await client.post("/api/readings", json=reading("fast-1", ahead, 30_000.0))
    assert r.status_code == 422 and "ahead of the server clock" in r.text
    r = await client.post(
        "/api/readings",
        json=[reading("fast-2", ahead, 30_000.0), reading("fast-3", ahead, 420.0)],
    )
    assert [b["errors"][0]["field"] for b in r.json()["rejected"]] == ["ts", "ts"]
    for d in ("fast-1", "fast-2"):
        q = {"device_id": d, "kind": "threshold"}
        [alarm] = (await client.get("/api/alerts", params=q)).json()["alerts"]
        assert alarm["kind"] == "threshold" and alarm["severity"] == "critical", alarm
        detail = (await client.get(f"/api/alerts/{alarm['alert_id']}")).json()
        assert "ahead of the server clock" in detail["events"][0]["detail"], detail
    q = {"device_id": "fast-3", "kind": "threshold"}
    assert (await client.get("/api/alerts", params=q)).json()["alerts"] == []


async def test_a_device_whose_readings_are_stamped_too_far_ahead_is_made_known(
    client: httpx.AsyncClient,
) -> None:
    """Its readings refused (ts more than 5 min ahead), the device was not registered, so no
    ``silent`` fault followed and operators never learned of the broken clock (newcomer).
    It is registered now, with one ``clock`` sensor fault; the readings are not stored."""
    for k in range(3):
        ahead = time.time() + 400 + k
        r = await client.post("/api/readings", json=reading("fast-9", ahead, 420.0))
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "ts"
    view = await client.get("/api/devices/fast-9")
    assert view.status_code == 200, view.text
    assert view.json()["last_reading"] is None and not view.json()["buffer_fill"]
    events = (await client.get("/api/events", params={"device_id": "fast-9"})).json()["events"]
    assert [(e["type"], e["kind"], e["reason"]) for e in events] == [
        ("alert.raised", "sensor_fault", "clock")
    ]
    assert (
        "ahead of the server clock" in events[0]["detail"] and "not stored" in events[0]["detail"]
    )


async def test_last_probability_survives_a_restart(settings) -> None:  # noqa: ANN001
    """The device view's ``last_probability`` comes back with the device's snapshot (it read
    null after a restart until the next window was scored: newcomer)."""
    from asgi_lifespan import LifespanManager

    from app.main import create_app
    from tests.conftest import auth_headers

    async def view_after(rows: list[dict]) -> dict:
        app = create_app(settings)  # same store file each time: a restart
        async with (
            LifespanManager(app, startup_timeout=120) as m,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=m.app),
                base_url="http://test",
                headers=auth_headers(),
            ) as c,
        ):
            if rows:
                r = await c.post("/api/readings", json=rows)
                assert r.json()["accepted"] == len(rows), r.text
                for _ in range(500):  # the last reading's window scored
                    if (await c.get("/api/status")).json()["windows_scored"] == 11:
                        break
                    await asyncio.sleep(0.02)
            dev: dict = (await c.get("/api/devices/p-1")).json()
            return dev

    before = await view_after([reading("p-1", T0 + i, 420.0 + i % 3) for i in range(70)])
    assert before["last_probability"] is not None, before
    after = await view_after([])
    assert after["readings_seen"] == 70
    assert after["last_probability"] == before["last_probability"], after


async def test_a_leak_seen_again_after_a_reading_gap_in_the_middle_of_the_first(
    client: httpx.AsyncClient,
) -> None:
    """Newcomer of 1 Dec: a 900 s reading gap in the middle of a leak restarted the device's
    warm-up, which learned the leak as its level; the first alert resolved when the gas
    returned, but the same leak again 5 min later raised nothing. The level before the gap
    now stays the warm-up's reference while the leak alert is open."""
    import numpy as np

    rng = np.random.default_rng(8)
    t0 = time.time() - 5000
    dev = "gap-mid-leak"
    await post_scored(client, dev, 400 + rng.normal(0, 4, 300), t0)
    await post_scored(client, dev, 800 + rng.normal(0, 4, 120), t0 + 300)
    await post_scored(client, dev, 800 + rng.normal(0, 4, 100), t0 + 1320)  # after the gap
    await post_scored(client, dev, 400 + rng.normal(0, 4, 300), t0 + 1420)
    got = await client.get("/api/alerts", params={"device_id": dev})
    leaks = [a for a in got.json()["alerts"] if a["kind"] == "leak"]
    assert len(leaks) == 1 and leaks[0]["state"] == "resolved", leaks
    await post_scored(client, dev, 800 + rng.normal(0, 4, 60), t0 + 1720)  # the same leak
    got = await client.get("/api/alerts", params={"device_id": dev})
    leaks = [a for a in got.json()["alerts"] if a["kind"] == "leak"]
    assert len(leaks) == 2 and leaks[0]["state"] != "resolved", leaks
    # the device view says why it stays open: the level kept at the raise and the bound
    ref = (await client.get(f"/api/devices/{dev}")).json()["signal"]["leak_reference"]
    assert 390 < ref["level"] < 410 and ref["clears_below"] == pytest.approx(
        max(ref["level"] + 2 * ref["noise_scale"], (ref["level"] + 1) * math.exp(0.1) - 1)
    ), ref
    await post_scored(client, dev, 400 + rng.normal(0, 4, 300), t0 + 1780)
    view = (await client.get(f"/api/devices/{dev}")).json()
    assert view["signal"]["leak_reference"] is None, view


@pytest.mark.parametrize("gap_s", [330, 840])
async def test_a_leak_present_when_a_backfilling_device_comes_back_from_a_gap_is_raised(
    client: httpx.AsyncClient, gap_s: int
) -> None:
    """Newcomer of 1 Dec 11:00: 1 Hz clean air, a 330-840 s outage (over the 300 s gap rule,
    under 3 of them), and x2 gas when the readings come back (posted as a backlog): the
    restart after the gap, which the service applies one reading late (the jump rule),
    learned the leak as the level, and nothing was raised. The level before the gap is now
    the warm-up's reference on that path too, and the leak is raised when it ends."""
    import numpy as np

    rng = np.random.default_rng(gap_s)
    dev, t0 = f"gap-back-{gap_s}", time.time() - 6000
    await post_scored(client, dev, 420 + rng.normal(0, 4, 900), t0)
    await post_scored(client, dev, 840 + rng.normal(0, 4, 300), t0 + 899 + gap_s)
    view = (await client.get(f"/api/devices/{dev}")).json()
    assert view["signal"]["restarts"] == 1, view
    got = await client.get("/api/alerts", params={"device_id": dev})
    leaks = [a for a in got.json()["alerts"] if a["kind"] == "leak"]
    assert len(leaks) == 1 and leaks[0]["state"] != "resolved", leaks


@pytest.mark.parametrize("slow_s", [200.0, 300.0])
async def test_a_device_that_slows_its_reporting_warms_up_once_and_is_scored_again(
    client: httpx.AsyncClient, slow_s: float
) -> None:
    """Newcomer of 1 Dec 11:40: a backfilling device at 1 s that then reports every 200-900 s
    restarted its warm-up at every reading (`restarts` 83-238, `warming_up` for good): the
    typical interval stayed 1 s after a restart, and the jump rule's confirmed slower
    interval never reached the gap rule. A leak on it was never raised and an alert open at
    the switch never cleared. Now it restarts at most once, warms up on the new interval
    and a doubling is raised; back to clean air, the alert clears."""
    import numpy as np

    rng = np.random.default_rng(int(slow_s))
    dev, t0 = f"slows-{slow_s:g}", time.time() - 200_000
    await post_scored(client, dev, 420 + rng.normal(0, 3, 1200), t0)
    t1 = t0 + 1200 + slow_s
    await post_scored(client, dev, 420 + rng.normal(0, 3, 150), t1, dt=slow_s)
    sig = (await client.get(f"/api/devices/{dev}")).json()["signal"]
    assert sig["state"] == "ready" and sig["restarts"] <= 1, sig
    t2 = t1 + 150 * slow_s
    await post_scored(client, dev, 840 + rng.normal(0, 3, 10), t2, dt=slow_s)
    got = await client.get("/api/alerts", params={"device_id": dev})
    leaks = [a for a in got.json()["alerts"] if a["kind"] == "leak"]
    assert len(leaks) == 1 and leaks[0]["state"] != "resolved", leaks
    await post_scored(client, dev, 420 + rng.normal(0, 3, 20), t2 + 10 * slow_s, dt=slow_s)
    got = await client.get("/api/alerts", params={"device_id": dev})
    assert [a["state"] for a in got.json()["alerts"] if a["kind"] == "leak"] == ["resolved"]


async def test_a_device_with_short_spikes_learns_them_and_says_so_in_its_view(
    client: httpx.AsyncClient,
) -> None:
    """A 10-s MOX device whose spikes last 3 readings (newcomer of 1 Dec 06:40: one
    critical leak alert per such spike, 11 in 14 h): the first is raised and ends by itself;
    the device view then says a leak alarm needs 6 windows in a row, and the same spike
    again raises nothing. A leak that stays is still raised."""
    import numpy as np

    rng = np.random.default_rng(3)
    dev, t0 = "mox-spiky", time.time() - 20000

    def clean(n: int) -> np.ndarray:
        return 300 * (1 + 0.05 * rng.normal(size=n))

    def spike() -> np.ndarray:
        return np.r_[clean(2), [900.0, 950.0, 1000.0], clean(45)]

    async def leaks() -> list[dict]:
        got = await client.get("/api/alerts", params={"device_id": dev})
        return [a for a in got.json()["alerts"] if a["kind"] == "leak"]

    base = clean(150)  # warm-up (60 readings) and the settling period (600 s)
    await post_scored(client, dev, base, t0, dt=10.0)
    view = (await client.get(f"/api/devices/{dev}")).json()["signal"]
    assert view["state"] == "ready" and view["raise_windows"] == 3, view
    await post_scored(client, dev, spike(), t0 + 1500, dt=10.0)
    first = await leaks()
    assert len(first) == 1 and first[0]["state"] == "resolved", first
    view = (await client.get(f"/api/devices/{dev}")).json()["signal"]
    assert view["raise_windows"] == 6, view
    await post_scored(client, dev, spike(), t0 + 2000, dt=10.0)
    assert len(await leaks()) == 1
    await post_scored(client, dev, np.r_[clean(2), 600 + clean(20)], t0 + 2500, dt=10.0)
    got = await leaks()
    assert len(got) == 2 and got[0]["state"] != "resolved", got


async def test_a_backlog_posted_at_once_does_not_teach_the_signal_model_its_leak(
    client: httpx.AsyncClient,
) -> None:
    """A gateway's backlog in messages of 600 readings (newcomer of 1 Dec 06:30): a slow leak
    (x1 -> x2 over 30 min) raised its alert, but the readings after the raise in the same
    message were learned before the alert held the signal model (noise scale 43 -> 576 ppm),
    and a x1.5 leak 20 min after the all-clear was never raised; in messages of 10 it was,
    6 s in. Readings of one device are now stored 10 at a time, each round scored and sunk
    before the next while a window passes the evidence gate: two leak alerts, and the noise
    scale stays that of clean air."""
    import numpy as np

    rng = np.random.default_rng(1002)
    t0 = time.time() - 12000
    clean = 700 * (1 + 0.01 * rng.normal(size=1800))
    ramp = 700 * np.linspace(1, 2, 1800) * (1 + 0.01 * rng.normal(size=1800))
    held = 1400 * (1 + 0.01 * rng.normal(size=1800))
    after = 700 * (1 + 0.01 * rng.normal(size=1200))
    second = 1050 * (1 + 0.01 * rng.normal(size=600))
    gas = np.r_[clean, ramp, held, after, second]
    await post_scored(client, "backlog", gas, t0, size=600)
    alerts = (await client.get("/api/alerts", params={"device_id": "backlog"})).json()["alerts"]
    leaks = sorted(a["opened_at"] for a in alerts if a["kind"] == "leak")
    assert len(leaks) == 2, alerts
    sig = (await client.get("/api/devices/backlog")).json()["signal"]
    assert sig["noise_scale"] < 60, sig


async def test_an_open_alerts_episode_is_its_running_one(client: httpx.AsyncClient) -> None:
    """``GET /api/alerts`` and ``/api/alerts/{id}`` gave an open alert's episode as stored at
    its last event: a leak alert open 3 h showed peak = last = its opening reading while the
    gas had risen past it (newcomer of 1 Dec 06:30). An open alert now shows the last and
    peak values so far."""
    import numpy as np

    rng = np.random.default_rng(9)
    t0 = time.time() - 3000
    gas = np.r_[400 + rng.normal(0, 4, 700), 600 + rng.normal(0, 4, 60), np.linspace(600, 640, 60)]
    await post_scored(client, "running", gas, t0)
    [alert] = (await client.get("/api/alerts", params={"device_id": "running"})).json()["alerts"]
    assert alert["kind"] == "leak" and alert["state"] == "active"
    detail = (await client.get(f"/api/alerts/{alert['alert_id']}")).json()
    assert [e["type"] for e in detail["events"]] == ["alert.raised"]
    for view in (alert, detail):
        ep = view["episode"]
        assert ep["peak_gas"] >= 635 and ep["last_gas"] >= 635, ep
        assert ep["first_gas"] < 620, ep


async def test_a_backlog_stored_in_rounds_keeps_its_devices_readings_in_message_order(
    client: httpx.AsyncClient,
) -> None:
    """A message stored in rounds (more than 10 readings of a device, a leak among them)
    waits for scoring between rounds; a second message for the same device sent meanwhile,
    with later readings, was stored in between, and the rest of the first message was then
    refused as out of order. Messages naming a device being stored in rounds wait for it:
    both are accepted whole."""
    import numpy as np

    t0 = time.time() - 3000
    first = np.r_[np.full(700, 400.0), np.full(300, 900.0)]
    rows_a = [reading("rounds", t0 + i, float(g)) for i, g in enumerate(first)]
    rows_b = [reading("rounds", t0 + 1000 + i, 900.0) for i in range(5)]

    async def post(rows: list[dict]) -> dict:
        return (await client.post("/api/readings", json=rows)).json()

    async def later() -> dict:
        await asyncio.sleep(0.05)  # while the first is between its rounds
        return await post(rows_b)

    a, b = await asyncio.gather(post(rows_a), later())
    assert a["accepted"] == len(rows_a) and not a["rejected"], a["rejected"][:2]
    assert b["accepted"] == len(rows_b), b


async def test_a_re_zeroed_lel_head_whose_zero_had_drifted_negative_raises_no_leak(
    client: httpx.AsyncClient,
) -> None:
    """A %LEL head whose zero had drifted to -0.5 %LEL, re-zeroed to 0.0 (README's remedy),
    raised a critical leak alert 9 s later that never cleared: the level was learned at
    -0.5 (newcomer of 1 Dec 13:45). A %LEL reading under 0 enters detection as 0; a real
    +5 %LEL leak after it is still raised."""
    assert (await client.put("/api/devices/lel-rz", json={"unit": "%LEL"})).is_success
    rng = np.random.default_rng(3)
    drifted = -0.5 + 0.02 * rng.standard_normal(900)
    await post_scored(client, "lel-rz", drifted, T0)
    await post_scored(client, "lel-rz", 0.02 * np.abs(rng.standard_normal(300)), T0 + 900)
    alerts = (await client.get("/api/alerts", params={"device_id": "lel-rz"})).json()["alerts"]
    assert [a for a in alerts if a["kind"] == "leak"] == []
    await post_scored(client, "lel-rz", np.full(60, 5.0), T0 + 1200)
    alerts = (await client.get("/api/alerts", params={"device_id": "lel-rz"})).json()["alerts"]
    assert [a["kind"] for a in alerts] == ["leak"]
    view = (await client.get("/api/devices/lel-rz")).json()
    assert view["signal"]["level"] >= 0.0


async def test_after_a_leak_the_held_level_catches_up_with_clean_air_that_wandered_up(
    client: httpx.AsyncClient,
) -> None:
    """The service's path of ``SignalStates.rebase`` (``AlertSink``): clean air that wandered
    up 370 -> 400 ppm under a x2 leak, then on to 470, raised a second leak alert on clean
    air after the first closed (newcomer of 1 Dec 14:10)."""
    rng = np.random.default_rng(1)
    bg = np.r_[np.full(3600, 370.0), np.linspace(370, 400, 1800), np.linspace(400, 470, 2400)]
    g = bg + rng.normal(0, 3, len(bg))
    g[3600:5400] *= 2
    await post_scored(client, "wander-up", g, T0, size=500)
    alerts = (await client.get("/api/alerts", params={"device_id": "wander-up"})).json()
    assert [(a["kind"], a["state"]) for a in alerts["alerts"]] == [("leak", "resolved")]


@pytest.mark.parametrize("zeros_s", [70, 600])
async def test_a_sensor_reading_0_under_a_leak_does_not_close_its_alert(
    client: httpx.AsyncClient, zeros_s: int
) -> None:
    """A x2 leak of 30 min whose sensor reads 0 ppm for 70 s or 10 min 10 min into it
    (newcomer, 18 of 18 and 6 of 6): the alert closed "all clear" 64 s into the zeros with
    the leak still on, a new one was raised when the sensor came back, and after 10 min of
    zeros that one never cleared (its reference was the 0 the level had fallen to). Now one
    alert, open through the zeros, resolved once after the leak."""
    rng = np.random.default_rng(zeros_s)
    g = 420 + rng.normal(0, 3, 3600 + 1800 + 1800)
    g[3600:5400] *= 2
    g[4200 : 4200 + zeros_s] = 0.0
    dev = f"zeros-under-leak-{zeros_s}"
    await post_scored(client, dev, g, T0, size=500)
    alerts = (await client.get("/api/alerts", params={"device_id": dev})).json()["alerts"]
    leaks = [(a["kind"], a["state"]) for a in alerts if a["kind"] == "leak"]
    assert leaks == [("leak", "resolved")], alerts
    events = (await client.get("/api/events", params={"device_id": dev})).json()["events"]
    [done] = [e for e in events if e["type"] == "alert.resolved" and e["kind"] == "leak"]
    resolved = datetime.fromisoformat(done["ts"].replace("Z", "+00:00")).timestamp()
    assert resolved >= T0 + 5400, done
    # zeros longer than a dropout (5 min) are told as a sensor at 0, and that ends
    faults = [(e["type"], e["reason"]) for e in events if e["kind"] == "sensor_fault"]
    told = [("alert.raised", "dropout"), ("alert.resolved", "all clear")]
    assert faults == (told if zeros_s > 300 else []), faults


async def test_a_backlog_posted_whole_releases_the_hold_at_the_all_clear(
    client: httpx.AsyncClient,
) -> None:
    """A ventilation boost (clean air 0.75x for an hour) with a 20-min x2 leak inside it,
    posted as a gateway's backlog of 2,000 readings a message (newcomers of 3 Dec: 15 of 16
    runs; 0 in messages of 500). The readings after the leak were learned with the level
    still held by the alert that the scorer had not yet closed, so clean air coming back at
    the boost's end raised a second critical leak alert that never cleared. Now a round with
    a held device waits for its windows, as one with evidence does: one alert, resolved."""
    rng = np.random.default_rng(3)
    i = np.arange(9000)
    boost = np.where((i >= 3600) & (i < 7200), 0.75, 1.0)
    leak = np.where((i >= 4800) & (i < 6000), 2.0, 1.0)
    g = 420 * boost * leak + rng.normal(0, 3, len(i))
    await post_scored(client, "boost-backlog", g, T0, size=2000)
    alerts = (await client.get("/api/alerts", params={"device_id": "boost-backlog"})).json()
    assert [(a["kind"], a["state"]) for a in alerts["alerts"]] == [("leak", "resolved")], alerts


async def test_a_sensor_that_reads_0_raises_a_dropout_fault_that_ends_when_it_is_back(
    client: httpx.AsyncClient,
) -> None:
    """A clean 420 ppm sensor that reads 0 ppm for 20 min (unplugged; a gateway sending 0
    for a missing value) raised nothing at all before 3 Dec: not a leak (it is not gas), and
    no fault. Now a ``dropout`` sensor fault, raised once the zeros outlast a dropout
    (5 min) and resolved after the sensor is back; a lone 0 and a 2-min run raise nothing."""
    rng = np.random.default_rng(5)
    g = 420 + rng.normal(0, 3, 3600 + 1200 + 1200)
    g[1000] = 0.0
    g[2000:2120] = 0.0
    g[3600:4800] = 0.0
    await post_scored(client, "unplugged", g, T0, size=500)
    events = (await client.get("/api/events", params={"device_id": "unplugged"})).json()
    kinds = [(e["kind"], e["type"], e["reason"]) for e in events["events"]]
    assert kinds == [
        ("sensor_fault", "alert.raised", "dropout"),
        ("sensor_fault", "alert.resolved", "all clear"),
    ], kinds
    raised, resolved = (
        datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp() - T0
        for e in events["events"]
    )
    assert 3600 + 300 <= raised <= 3600 + 310 + 500, raised  # one message may be learned whole
    assert resolved >= 4800, resolved
    assert "clean level of 4" in events["events"][0]["detail"], events["events"][0]


async def test_coarse_time_stamps_do_not_shorten_the_alarm_delay(
    client: httpx.AsyncClient,
) -> None:
    """A 1 Hz sensor whose gateway truncates times to 10 s: clean 8-reading x2 transients
    (a relay's glitch, a breath on a CO2 sensor), under the 8 s alarm delay with exact
    stamps, "spanned" 10 s across a stamp boundary and raised a critical leak alert at most
    transients (newcomer of 6 Dec: 36 in 8 device-hours, live). Now none; a x2 leak after
    them is still raised within 12 readings."""
    rng = np.random.default_rng(4)
    g = 420 + rng.normal(0, 4, 3600)
    for start in range(1005, 2600, 160):  # 10 transients, each across a stamp boundary
        g[start : start + 8] *= 2.0
    g[3000:] *= 2.0
    rows = [reading("coarse", T0 + 10 * (i // 10), float(x)) for i, x in enumerate(g)]
    for j in range(0, len(rows), 100):
        r = await client.post("/api/readings", json=rows[j : j + 100])
        assert r.json()["accepted"] == 100, r.text
    want = (await client.get("/api/status")).json()["windows_submitted"]
    while (await client.get("/api/status")).json()["windows_scored"] < want:
        await asyncio.sleep(0.05)
    events = (await client.get("/api/events", params={"device_id": "coarse"})).json()["events"]
    raised = [e for e in events if e["type"] == "alert.raised" and e["kind"] == "leak"]
    assert len(raised) == 1, raised
    at = datetime.fromisoformat(raised[0]["ts"].replace("Z", "+00:00")).timestamp()
    assert T0 + 3000 <= at <= T0 + 3020, raised


async def test_a_device_whose_clock_starts_in_2000_gets_one_clock_fault_and_keeps_its_readings(
    tmp_path,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    """A gateway whose clock reset to 2000-01-01 before its device's first reading (newcomer):
    its stamps advance, so nothing looked wrong; its readings were accepted at their stamps
    and went from the history at the next prune (7-day retention), with no fault raised.
    Stamps older than the retention behind the server clock that keep pace with it over
    CLOCK_FAULT_S (shortened here) and 3 readings are now a broken clock: from the third on
    the readings are stored at their receipt time, and one ``clock`` sensor_fault names
    ``ts`` and why; it resolves once the stamps are sane again (off-delay shortened). A
    batch of old readings (a backlog, stamps 1 s apart sent at once) is no such run."""
    import app.services.buffers as buffers

    fault_s = buffers.CLOCK_FAULT_S
    monkeypatch.setattr(buffers, "CLOCK_FAULT_S", 0.0, raising=False)
    settings = Settings(db_path=tmp_path / "c.db", model_enabled=False, alert_off_delay_s=2.0)
    y2000 = 946_684_800.0
    async with (
        serve_in_loop(settings) as (base, _),
        httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as c,
    ):
        for i in range(5):  # one message a reading, as a live gateway sends them
            r = await c.post("/api/readings", json=reading("rtc-new", y2000 + i, 420.0 + i))
            assert r.json() == {"accepted": 1, "rejected": [], "warnings": []}, r.text
        r = await c.post(
            "/api/readings", json=[reading("rtc-new", y2000 + 5 + i, 425.0) for i in range(3)]
        )
        assert r.json() == {"accepted": 3, "rejected": [], "warnings": []}, r.text
        view = (await c.get("/api/devices/rtc-new")).json()
        assert view["readings_seen"] == 8 and view["last_ts"][:4] != "2000", view
        hist = (await c.get("/api/devices/rtc-new/readings")).json()
        assert sum(p["n"] for p in hist["points"]) == 6, hist  # the first 2 stay in 2000
        evs = (await c.get("/api/events", params={"device_id": "rtc-new"})).json()["events"]
        assert [(e["type"], e["kind"], e["reason"]) for e in evs] == [
            ("alert.raised", "sensor_fault", "clock")
        ], evs
        assert evs[0]["ts"][:4] != "2000"
        assert "`ts` 2000-01-01T00:00:02.000Z" in evs[0]["detail"], evs[0]["detail"]
        assert "readings retention" in evs[0]["detail"], evs[0]["detail"]
        # the clock is put right: sane stamps for longer than the off-delay end the fault
        now = time.time()
        for i in range(1, 6):
            r = await c.post("/api/readings", json=reading("rtc-new", now + i, 421.0))
            assert r.json() == {"accepted": 1, "rejected": [], "warnings": []}, r.text
        evs = (await c.get("/api/events", params={"device_id": "rtc-new"})).json()["events"]
        assert [(e["type"], e["reason"]) for e in evs] == [
            ("alert.raised", "clock"),
            ("alert.resolved", "all clear"),
        ], evs
        monkeypatch.setattr(buffers, "CLOCK_FAULT_S", fault_s)  # as deployed: 60 s
        backlog = [reading("backlog", y2000 + i, 420.0) for i in range(100)]
        for j in range(0, 100, 20):
            r = await c.post("/api/readings", json=backlog[j : j + 20])
            assert r.json() == {"accepted": 20, "rejected": [], "warnings": []}, r.text
        view = (await c.get("/api/devices/backlog")).json()
        assert view["last_ts"] == "2000-01-01T00:01:39.000Z" and view["alerts"] == [], view


async def test_a_clock_reset_to_2000_is_caught_in_messages_that_carry_other_devices_too(
    tmp_path,  # noqa: ANN001
    monkeypatch,  # noqa: ANN001
) -> None:
    """A device whose clock reset to 2000-01-01, its readings sent one a message alongside
    another device's reading (a gateway polling several devices), or two such devices in one
    message (newcomer of 2 Dec): its run of stale stamps was counted one reading short per
    message, so it never grew: no ``clock`` fault, and its readings stayed at their
    year-2000 stamps, for the retention pruner to remove. Now it is caught as when each
    message holds its readings alone: from the third reading on, at receipt time."""
    import app.services.buffers as buffers

    monkeypatch.setattr(buffers, "CLOCK_FAULT_S", 0.0, raising=False)
    settings = Settings(db_path=tmp_path / "c.db", model_enabled=False)
    y2000 = 946_684_800.0
    async with (
        serve_in_loop(settings) as (base, _),
        httpx.AsyncClient(base_url=base, headers=auth_headers(), timeout=30) as c,
    ):
        for i in range(5):
            sane = reading("sane", time.time(), 430.0 + i)
            for body in (
                [reading("rtc-mixed", y2000 + i, 420.0 + i), sane],
                [reading("rtc-a", y2000 + i, 420.0 + i), reading("rtc-b", y2000 + i, 421.0 + i)],
            ):
                r = await c.post("/api/readings", json=body)
                assert r.json() == {"accepted": 2, "rejected": [], "warnings": []}, r.text
        for d in ("rtc-mixed", "rtc-a", "rtc-b"):
            view = (await c.get(f"/api/devices/{d}")).json()
            assert view["readings_seen"] == 5 and view["last_ts"][:4] != "2000", (d, view)
            hist = (await c.get(f"/api/devices/{d}/readings")).json()
            assert sum(p["n"] for p in hist["points"]) == 3, (d, hist)  # 2 stay in 2000
            evs = (await c.get("/api/events", params={"device_id": d})).json()["events"]
            assert [(e["type"], e["kind"], e["reason"]) for e in evs] == [
                ("alert.raised", "sensor_fault", "clock")
            ], (d, evs)
        view = (await c.get("/api/devices/sane")).json()
        assert view["readings_seen"] == 5 and view["alerts"] == [], view


async def test_a_backlog_sent_newest_first_is_refused_not_dropped_and_resent_raises_the_leak(
    client: httpx.AsyncClient,
) -> None:
    """A store-and-forward gateway that, after a 30-min WAN outage of a 30-s device, sent
    its backlog newest first, one reading a message (newcomer of 2 Dec): every reading was
    answered "accepted", but each was newer than the device's newest placed reading and far
    from it, so it became the pending jump in place of the one before it, and none was
    placed or scored; the first live reading then confirmed a 30-min gap, the warm-up
    restarted and learned the x2 leak of the outage as the level: never raised. Now a
    reading older than the pending jump and itself far from the newest placed reading is
    refused ``out_of_order``, saying a backlog must be sent oldest first, and so is each
    later one within a jump before the one refused before it: every reading but the
    pending one is refused, and resent oldest first they are all placed, and the leak is
    raised."""
    rng = np.random.default_rng(2)
    n0, n = 360, 60  # 3 h of clean air, then the outage's backlog
    gas = np.round(420 + rng.normal(0, 4, n0 + n + 20), 1)
    gas[n0 + 30 :] *= 2  # a leak from the middle of the outage on
    start = time.time() - 6 * 3600.0  # a gateway's backlog, hours behind the server clock
    ts = start + 30.0 * np.arange(n0 + n + 20)
    await post_scored(client, "lifo", gas[:n0], start, dt=30.0)
    answers = {}
    for i in range(n0 + n - 1, n0 - 1, -1):  # the backlog, newest first
        r = (await client.post("/api/readings", json=reading("lifo", ts[i], gas[i]))).json()
        answers[i] = "accepted" if r["accepted"] else r["rejected"][0]["errors"][0]
    assert answers.pop(n0 + n - 1) == "accepted"  # the pending jump, in the ring and history
    assert {(e["field"], e["type"]) for e in answers.values()} == {("ts", "out_of_order")}
    reasons = [e["reason"] for e in answers.values()]
    assert all("send the backlog oldest first" in a for a in reasons), reasons
    # the gateway resends what was refused, oldest first, then goes on live
    for i in range(n0, n0 + n - 1):
        r = (await client.post("/api/readings", json=reading("lifo", ts[i], gas[i]))).json()
        assert r == {"accepted": 1, "rejected": [], "warnings": []}, (i, r)
    live = [reading("lifo", ts[i], gas[i]) for i in range(n0 + n, n0 + n + 20)]
    assert (await client.post("/api/readings", json=live)).json()["accepted"] == 20
    want = (await client.get("/api/status")).json()["windows_submitted"]
    while (await client.get("/api/status")).json()["windows_scored"] < want:
        await asyncio.sleep(0.05)
    view = (await client.get("/api/devices/lifo")).json()
    assert view["signal"]["restarts"] == 0, view["signal"]
    [alert] = (await client.get("/api/alerts", params={"device_id": "lifo"})).json()["alerts"]
    assert alert["kind"] == "leak", alert
    raised = datetime.fromisoformat(alert["opened_at"]).timestamp()
    assert ts[n0 + 30] <= raised <= ts[n0 + 40], (raised - ts[n0 + 30], alert)


async def test_a_pending_jump_sent_again_after_readings_before_it_is_stored_once(
    client: httpx.AsyncClient,
) -> None:
    """Final newcomer of 2 Dec: the newest reading of a backlog sent newest first is held as
    the pending jump (stored), the next one is refused "send the backlog oldest first", and
    a gateway that resends both oldest first had the newest stored twice: the reading before
    it replaced the jump, and the duplicate check looked at the newest time alone. It is a
    ``duplicate`` now, stored once."""
    start = time.time() - 6 * 3600.0
    clean = [reading("pend", start + i, 420.0 + i % 3) for i in range(120)]
    assert (await client.post("/api/readings", json=clean)).json()["accepted"] == 120
    p = reading("pend", start + 119 + 1801, 421.0)
    q = reading("pend", start + 119 + 1800, 420.0)
    assert (await client.post("/api/readings", json=p)).json()["accepted"] == 1
    [refused] = (await client.post("/api/readings", json=q)).json()["rejected"]
    assert refused["errors"][0]["type"] == "out_of_order", refused
    r = (await client.post("/api/readings", json=[q, p])).json()
    assert r["accepted"] == 1, r
    assert [(e["index"], e["errors"][0]["type"]) for e in r["rejected"]] == [(1, "duplicate")]
    pts = (
        await client.get(
            "/api/devices/pend/readings",
            params={"from": iso(q["ts"] - 0.5), "to": iso(p["ts"] + 0.5), "bucket_s": 0.001},
        )
    ).json()["points"]
    assert [pt["n"] for pt in pts] == [1, 1], pts


async def test_readings_delivered_twice_raise_nothing_on_a_glitch_and_a_leak_still_does(
    client: httpx.AsyncClient,
) -> None:
    """A 300-s device whose every reading arrives twice, 10-80 ms apart, each copy stamped
    on arrival (a LoRaWAN uplink heard by two gateways): a one-reading x1.3 glitch, twice,
    passed the running median of three and raised a critical leak alert at most glitches
    (newcomer of 9 Dec, both models, live). The copies are refused as ``duplicate`` now:
    the glitch raises nothing, and a doubling of the gas is still raised within 3
    readings."""
    rng = np.random.default_rng(5)
    gas = np.round(420 + rng.normal(0, 4, 110))
    gas[80] *= 1.3  # the glitch, at t = 24,000 s
    gas[95:] *= 2  # the leak, from t = 28,500 s
    ts = T0 + 300.0 * np.arange(110) + rng.uniform(0, 5, 110)
    for j in range(0, 110, 10):
        rows = []
        for i in range(j, j + 10):
            copy = ts[i] + rng.uniform(0.01, 0.08)
            rows += [reading("twice", ts[i], float(gas[i])), reading("twice", copy, float(gas[i]))]
        r = (await client.post("/api/readings", json=rows)).json()
        assert r["accepted"] == 10 and [e["index"] for e in r["rejected"]] == list(
            range(1, 20, 2)
        ), r
        assert {e["errors"][0]["type"] for e in r["rejected"]} == {"duplicate"}, r
        want = (await client.get("/api/status")).json()["windows_submitted"]
        while (await client.get("/api/status")).json()["windows_scored"] < want:
            await asyncio.sleep(0.05)
        alerts = (await client.get("/api/alerts", params={"device_id": "twice"})).json()
        if j + 10 <= 95:
            assert alerts["alerts"] == [], (j, alerts)
    [alert] = alerts["alerts"]
    raised = datetime.fromisoformat(alert["opened_at"]).timestamp()
    assert ts[95] <= raised <= ts[97], (raised - ts[95], alert)
