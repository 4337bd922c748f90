"""Issue 10's rules survive ``kill -9``: episodes with their off-delay timers, the latch,
silences, the device registry and profiles; a device with an open alert that never reports
again after the restart raises ``silent``. Real uvicorn, model off (only the rules raise)."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SILENCE_END, LiveServer, reading, start_server, stop_server

T0 = time.time() - 3600  # readings an hour old: any reading time works, the rules use it


async def post(http: httpx.AsyncClient, device: str, gases: list[float], t0: float) -> None:
    r = await http.post(
        "/api/readings", json=[reading(device, t0 + i, g) for i, g in enumerate(gases)]
    )
    assert r.status_code == 200 and r.json()["rejected"] == [], r.text


def epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


async def events(http: httpx.AsyncClient, device: str) -> list[dict[str, Any]]:
    r = await http.get("/api/events", params={"device_id": device, "limit": 1000})
    return r.json()["events"]


async def before_kill(server: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.base, timeout=30, headers=server.headers) as http:
        put = await http.put(
            "/api/devices/propane-1",
            json={"name": "Boiler", "gas": "propane", "low_pct_lel": 5, "high_pct_lel": 15},
        )
        assert put.status_code == 200
        silence = await http.post(
            "/api/silences",
            json={
                "device_id": "kitchen-*",
                "ends_at": SILENCE_END,
                "comment": "service",
                "author": "ann",
            },
        )
        assert silence.status_code == 201
        await post(http, "tank-1", [13_000.0] + [420.0] * 30, T0)  # clear timer at T0 + 1
        await post(http, "kitchen-01", [6_000.0] * 2, T0)
        await post(http, "lost-1", [6_000.0] * 2, T0)
        await post(http, "latched-1", [13_000.0] + [420.0] * 61, T0)  # cleared_unacked
        return {
            "silence": silence.json(),
            "tank": await events(http, "tank-1"),
            "latched": await events(http, "latched-1"),
        }


async def after_restart(server: LiveServer, before: dict[str, Any], silent_s: float) -> None:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=server.base, timeout=30, headers=server.headers) as http:
        # silences and the registry came back
        [s] = (await http.get("/api/silences")).json()["silences"]
        assert s == before["silence"]
        dev = (await http.get("/api/devices/propane-1")).json()
        assert (dev["profile"]["name"], dev["set_points_ppm"]) == ("Boiler", [850.0, 2550.0])
        assert dev["buffer_fill"] is None  # registered, not in memory after the restart
        # the latch held: still cleared_unacked, and only an ack resolves it
        latched = (await http.get("/api/devices/latched-1")).json()
        assert latched["alert_state"] == "cleared_unacked"
        # the off-delay timer started before the kill carries on: clear since T0 + 1
        await post(http, "tank-1", [420.0] * 40, T0 + 31)
        tank = await events(http, "tank-1")
        assert tank[: len(before["tank"])] == before["tank"]
        new = tank[len(before["tank"]) :]
        assert [(e["type"], e["state"], e["alert_id"]) for e in new] == [
            ("alert.updated", "cleared_unacked", before["tank"][0]["alert_id"])
        ]
        assert epoch(new[0]["ts"]) == pytest.approx(T0 + 61, abs=1e-3)  # 60 s after T0 + 1
        # the silence still applies to kitchen-01's open alert
        await post(http, "kitchen-01", [14_000.0], T0 + 2)
        assert [(e["type"], e["silenced"]) for e in await events(http, "kitchen-01")] == [
            ("alert.raised", True),
            ("alert.updated", True),
        ]
        # the propane profile's set points apply
        await post(http, "propane-1", [1_000.0] * 2, T0)
        assert [e["severity"] for e in await events(http, "propane-1")] == ["warning"]
        # lost-1 never reports again: silent within silent_s plus one sweep period
        async with asyncio.timeout(silent_s + silent_s / 4 + 5):
            while not any(e["reason"] == "silent" for e in await events(http, "lost-1")):
                await asyncio.sleep(0.1)
        took = time.monotonic() - started
        lost = await events(http, "lost-1")
        assert [(e["type"], e["reason"]) for e in lost] == [
            ("alert.raised", "low"),
            ("alert.raised", "silent"),
        ]
        assert took <= silent_s + silent_s / 4 + 1.5, took


@pytest.mark.slow
def test_alarm_rules_survive_kill_9(tmp_path: Path) -> None:
    silent_s = 3.0
    env = {
        "GASLEAK_DB_PATH": str(tmp_path / "gasleak.db"),
        "GASLEAK_MODEL_ENABLED": "false",
        "GASLEAK_SILENT_S": "3600",
    }
    server = start_server(env)
    try:
        before = asyncio.run(before_kill(server))
    finally:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
    assert server.proc.returncode == -signal.SIGKILL
    server = start_server({**env, "GASLEAK_SILENT_S": str(silent_s)})
    try:
        asyncio.run(after_restart(server, before, silent_s))
    finally:
        stop_server(server)
