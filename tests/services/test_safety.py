"""Safety rules: set points with hysteresis, sensor faults, silence; and the real app with the
model switched off."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets

from app.services.safety import SafetyConfig, SafetyRules
from app.sim import clean_air
from tests.conftest import SMOKE_CSV, needs_data, reading, start_server, stop_server

T0 = 1_767_225_600.0


def feed(rules: SafetyRules, rows, device: str = "d", t0: float = T0, dt: float = 1.0) -> list:
    out = []
    for i, (g, t, h) in enumerate(rows):
        out += rules.check(device, t0 + i * dt, float(g), float(t), float(h), now=float(i))
    return out


def test_stuck_sensor_raises_sensor_fault_not_leak_and_resolves() -> None:
    rules = SafetyRules(SafetyConfig(stuck_readings=10))
    events = feed(rules, [(400.0, 21.0, 45.0)] * 12 + [(400.0, 21.01, 45.0)])
    assert [(e["type"], e["kind"], e["reason"]) for e in events] == [
        ("alert.raised", "sensor_fault", "stuck"),
        ("alert.resolved", "sensor_fault", "stuck"),
    ]
    assert events[0]["ts"] == T0 + 10  # the 11th equal reading (10 unchanged steps)
    assert events[0]["alert_id"] == events[1]["alert_id"]
    assert all(e["kind"] != "leak" and e["probability"] is None for e in events)


def test_gas_floor_alone_is_not_stuck() -> None:
    rows = [(400.0, 21.0 + 0.001 * i, 45.0) for i in range(500)]
    assert feed(SafetyRules(SafetyConfig(stuck_readings=10)), rows) == []


def test_threshold_levels_latch_separately_with_hysteresis() -> None:
    rules = SafetyRules(SafetyConfig(low_ppm=5000, high_ppm=12500, hysteresis=0.2,
                                     clear_readings=2))
    gas = [420, 5000, 13000, 11000, 9000, 9000, 4500, 3900, 3900]
    events = feed(rules, [(g, 21.0 + 0.01 * i, 45.0) for i, g in enumerate(gas)])
    got = [(e["type"], e["kind"], e["severity"], e["ts"] - T0) for e in events]
    assert got == [
        ("alert.raised", "threshold", "warning", 1),  # 5000 >= 5000
        ("alert.raised", "threshold", "critical", 2),  # 13000 >= 12500
        ("alert.resolved", "threshold", "critical", 5),  # 2 readings < 10000
        ("alert.resolved", "threshold", "warning", 8),  # 2 readings < 4000 (4500 is not)
    ]
    assert events[0]["alert_id"] == events[3]["alert_id"] != events[1]["alert_id"]


def test_rate_of_change_and_out_of_range() -> None:
    rules = SafetyRules(SafetyConfig(clear_readings=3))
    rows = [(420, 21.0, 45.0), (420, 35.0, 45.0)]  # +14 °C in 1 s
    rows += [(420, 35.0 + 0.01 * i, 45.0) for i in range(1, 4)]
    rows += [(70_000, 35.1, 45.0)]  # beyond the 60,000 ppm sensor range
    events = feed(rules, rows)
    kinds = [(e["type"], e["reason"]) for e in events]
    assert kinds[:2] == [("alert.raised", "rate_of_change"), ("alert.resolved", "rate_of_change")]
    assert ("alert.raised", "out_of_range") in kinds
    assert "temperature_c" in events[0]["detail"]
    # 420 -> 70,000 ppm in 1 s is 69,580 ppm/s: also an implausible rate
    assert kinds[-2:] == [("alert.raised", "out_of_range"), ("alert.raised", "rate_of_change")]


def test_silence_sweep_raises_once_and_next_reading_resolves() -> None:
    rules = SafetyRules(SafetyConfig(silent_s=60))
    rules.check("a", T0, 420, 21, 45, now=0.0)
    rules.check("b", T0, 420, 21, 45, now=50.0)
    assert rules.silent_devices(now=59.0) == []
    first = rules.silent_devices(now=61.0)
    assert [(e["device_id"], e["kind"], e["reason"]) for e in first] == [
        ("a", "sensor_fault", "silent")]
    assert rules.silent_devices(now=62.0) == []  # not raised twice
    assert rules.with_active() == {"a"}
    back = rules.check("a", T0 + 70, 420, 21, 45, now=70.0)
    assert [(e["type"], e["alert_id"]) for e in back] == [("alert.resolved", first[0]["alert_id"])]
    rules.forget(["a", "b"])
    assert rules.devices == {}


def test_simulator_background_raises_nothing() -> None:
    rows = clean_air(3600, np.random.default_rng(0))
    assert feed(SafetyRules(), rows) == []


@needs_data
def test_real_clean_slice_raises_nothing() -> None:
    raw = np.genfromtxt(SMOKE_CSV, delimiter=",", skip_header=1, max_rows=3178)
    rows = raw[:, [3, 1, 2]]
    assert (rows[:, 0] == 400).sum() > 2000  # long stretches at the SGP30 floor
    assert feed(SafetyRules(), rows) == []


async def _over_critical(base: str) -> tuple[list[dict], dict]:
    frames: list[dict] = []
    async with websockets.connect(base.replace("http", "ws", 1) + "/ws/alerts") as sub:
        assert json.loads(await sub.recv())["type"] == "subscribed"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            rows = [reading("tank-1", T0 + i, 420.0 + i) for i in range(70)]
            rows += [reading("tank-1", T0 + 70, 13_000.0)]
            r = await http.post("/api/readings", json=rows)
            assert r.json() == {"accepted": 71, "rejected": []}
            frames.append(json.loads(await asyncio.wait_for(sub.recv(), 10)))
            frames.append(json.loads(await asyncio.wait_for(sub.recv(), 10)))
            status = (await http.get("/api/status")).json()
    return frames, status


@pytest.mark.slow
def test_critical_set_point_alerts_with_model_switched_off() -> None:
    server = start_server({"GASLEAK_MODEL_ENABLED": "false"}, block_torch=True)
    try:
        frames, status = asyncio.run(_over_critical(server.base))
    finally:
        stop_server(server)
    assert [(f["type"], f["kind"], f["severity"]) for f in frames] == [
        ("alert.raised", "threshold", "warning"), ("alert.raised", "threshold", "critical")]
    assert frames[1]["model_type"] == "safety rules" and frames[1]["probability"] is None
    assert "12500" in frames[1]["detail"]
    assert status["model_status"]["is_trained"] is False
    assert status["windows_scored"] == 0  # no model: 12 full windows, none scored
    assert status["active_alerts"] == 2  # both threshold alerts, no leak alert


@pytest.mark.slow
def test_silent_device_alert_through_the_app() -> None:
    server = start_server({"GASLEAK_MODEL_ENABLED": "false", "GASLEAK_SILENT_S": "0.4"},
                          block_torch=True)

    async def run() -> dict:
        async with websockets.connect(server.ws + "/ws/alerts") as sub:
            await sub.recv()
            async with httpx.AsyncClient(base_url=server.base) as http:
                await http.post("/api/readings", json=reading("quiet-1", T0, 420.0))
            return json.loads(await asyncio.wait_for(sub.recv(), 10))

    try:
        event = asyncio.run(run())
    finally:
        stop_server(server)
    assert (event["device_id"], event["kind"], event["reason"]) == ("quiet-1", "sensor_fault",
                                                                    "silent")
