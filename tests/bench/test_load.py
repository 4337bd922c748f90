"""The benchmark's load generator against a real server: every phase runs and counts right."""

from __future__ import annotations

import asyncio
import json

from bench import load
from tests.conftest import LiveServer


def test_fleet_readings_are_valid_and_leak() -> None:
    from app.services.ingest import validate

    fleet = load.Fleet(4, 2.0, 1.7e9, {1: 3.0})
    rows = [json.loads(fleet.encode(i, fleet.ts_of(i, k))) for i in range(4) for k in range(-3, 12)]
    good, bad = validate(rows)
    assert not bad and len(good) == len(rows)
    gas = {(r["device_id"], r["ts"]): r["gas_ppm"] for r in rows}
    leaky = "dev-000001"
    assert gas[(leaky, fleet.ts_of(1, 11))] > 3000 > gas[(leaky, fleet.ts_of(1, 0))]
    assert max(v for (d, _), v in gas.items() if d != leaky) < 500


def test_phases_against_a_live_server(live_server: LiveServer) -> None:
    cfg = {
        "base": live_server.base,
        "devices": 12,
        "rate": 5.0,
        "seconds": 1.5,
        "gateways": 3,
        "leaky_fraction": 0.25,
        "track_devices": 50,
        "server_pid": live_server.proc.pid,
        "phases": ["prefill", "paced", "saturate", "memory"],
        "prefill": 60,
        "raise_after": None,
    }
    out = asyncio.run(load.run(cfg))
    assert out["prefill"]["accepted"] == out["prefill"]["sent"] == 12 * 60
    paced, sat, mem = out["paced"], out["saturate"], out["memory"]
    assert paced["dropped"] == 0 and paced["readings_sent"] >= 12 * 5 * 1.5 * 0.8
    assert sat["dropped"] == 0 and sat["windows_unscored"] == 0 and sat["windows_per_s"] > 0
    assert mem["devices_tracked"] == 50 and mem["max_devices"] == 100_000
    assert mem["rss_mb"] > 0
    o = out["overload"]
    assert o["gateways_alive"] == 3 and o["subscriber_alive"] and o["accepted_then_lost"] == 0
