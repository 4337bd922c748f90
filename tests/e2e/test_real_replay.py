"""End to end on real recordings: a real uvicorn server, real HTTP and WebSocket clients.

The smoke_iot gas-fire session (rows 50021-51141) is posted over HTTP as device ``fire``;
clean indoor air (rows 0-3177) is sent over ``/ws/readings`` as device ``clean``. A
subscriber on ``/ws/alerts`` must get ``alert.raised`` for ``fire`` and nothing for
``clean``, with either model: LSTM+SVM, and the pure SVM with torch unimportable.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time

import httpx
import pytest
import websockets

from tests.conftest import SMOKE_CSV, LiveServer, needs_data, start_server, stop_server

T0 = 1_767_225_600.0
FIRE, CLEAN = (50021, 51142), (0, 3178)


def load_rows(a: int, b: int) -> list[tuple[float, float, float]]:
    """Rows [a, b) of the smoke_iot CSV as (eCO2 ppm, °C, %RH)."""
    with SMOKE_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))[a:b]
    return [
        (float(r["eCO2[ppm]"]), float(r["Temperature[C]"]), float(r["Humidity[%]"])) for r in rows
    ]


def as_readings(device: str, rows: list[tuple[float, float, float]]) -> list[dict]:
    return [
        {"device_id": device, "ts": T0 + i, "gas_ppm": g, "temperature_c": t, "humidity_pct": h}
        for i, (g, t, h) in enumerate(rows)
    ]


async def replay(server: LiveServer) -> tuple[list[dict], dict]:
    """Replay both slices; return the alert frames received and the final status."""
    fire = as_readings("fire", load_rows(*FIRE))
    clean = as_readings("clean", load_rows(*CLEAN))
    frames: list[dict] = []
    async with websockets.connect(
        server.ws + "/ws/alerts", additional_headers=server.headers
    ) as sub:
        hello = json.loads(await sub.recv())
        assert hello["type"] == "subscribed"

        async def collect() -> None:
            async for frame in sub:
                frames.append(json.loads(frame))

        collector = asyncio.create_task(collect())
        async with httpx.AsyncClient(
            base_url=server.base, timeout=30, headers=server.headers
        ) as http:
            async with websockets.connect(
                server.ws + "/ws/readings", additional_headers=server.headers
            ) as gw:
                for k in range(0, max(len(fire), len(clean)), 50):
                    if fire[k : k + 50]:
                        r = await http.post("/api/readings", json=fire[k : k + 50])
                        assert r.json() == {
                            "accepted": len(fire[k : k + 50]),
                            "rejected": [],
                            "warnings": [],
                        }
                    if clean[k : k + 50]:
                        await gw.send(json.dumps(clean[k : k + 50]))
                        reply = json.loads(await gw.recv())
                        assert reply == {
                            "accepted": len(clean[k : k + 50]),
                            "rejected": [],
                            "warnings": [],
                        }
            expected = (len(fire) - 59) + (len(clean) - 59)
            deadline = time.monotonic() + 60
            while True:
                status = (await http.get("/api/status")).json()
                if status["windows_scored"] >= expected or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # let the last frames arrive
        collector.cancel()
    assert status["windows_scored"] == expected, status
    return frames, status


def check(frames: list[dict], status: dict, model_type: str) -> None:
    # Leak alerts come from the model; the fire also crosses the gas set points (threshold
    # alerts from the safety rules, kind "threshold"), which must not replace them.
    raised = [f for f in frames if f["type"] == "alert.raised" and f["kind"] == "leak"]
    assert any(f["device_id"] == "fire" for f in raised), frames
    assert not any(f["device_id"] == "clean" for f in frames), frames
    first = next(f for f in raised if f["device_id"] == "fire")
    assert first["kind"] == "leak" and first["model_type"] == model_type
    assert 0.7 <= first["probability"] <= 1.0
    assert first["severity"] in ("warning", "critical")
    ids = [f["event_id"] for f in frames]
    assert ids == sorted(set(ids))
    assert status["model_status"]["model_type"] == model_type
    assert status["readings_rejected"] == 0


@needs_data
@pytest.mark.slow
def test_real_fire_alerts_and_clean_air_stays_quiet_lstm(live_server: LiveServer) -> None:
    frames, status = asyncio.run(replay(live_server))
    check(frames, status, "PyTorch LSTM+SVM")


@needs_data
@pytest.mark.slow
def test_real_fire_alerts_with_pure_svm_when_torch_is_missing() -> None:
    server = start_server(block_torch=True)
    try:
        frames, status = asyncio.run(replay(server))
        check(frames, status, "Pure SVM")
        assert status["model_status"]["device"] == "cpu"
    finally:
        stop_server(server)
