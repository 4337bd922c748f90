"""Shedding against a real server: over a client's rate limit, HTTP answers 429 with
Retry-After and /ws/readings an ``overloaded`` frame on a connection that stays open; nothing
of a refused message is stored; /api/status and /metrics count it."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import websockets

from tests.conftest import reading, start_server, stop_server


async def test_rate_limited_messages_are_refused_counted_and_the_socket_stays_open() -> None:
    server = start_server(
        {"GASLEAK_INGEST_RATE_LIMIT": "3/second", "GASLEAK_MODEL_ENABLED": "false"}
    )
    try:
        now = time.time()
        async with httpx.AsyncClient(base_url=server.base, headers=server.headers) as http:
            codes = await asyncio.gather(
                *(http.post("/api/readings", json=reading(f"h{i}", now, 400.0)) for i in range(5))
            )  # at once: well within one second whatever the machine's load
            assert sorted(r.status_code for r in codes)[:3] == [200, 200, 200]
            refused = [r for r in codes if r.status_code == 429]
            assert refused and refused[0].json()["error"] == "overloaded"
            assert int(refused[0].headers["retry-after"]) >= 1
            await asyncio.sleep(1.1)
            async with websockets.connect(
                server.ws + "/ws/readings", additional_headers=server.headers
            ) as ws:
                for i in range(5):  # other values: equal ones 1 ms apart are one reading twice
                    await ws.send(json.dumps(reading("w", now + i * 1e-3, 400.0 + i)))
                replies = [json.loads(await ws.recv()) for _ in range(5)]
                shed = [r for r in replies if r.get("error") == "overloaded"]
                assert shed and shed[0]["retry_after_s"] > 0
                assert shed[0]["detail"][0]["type"] == "rate_limited"
                await asyncio.sleep(shed[0]["retry_after_s"] + 0.1)
                await ws.send(json.dumps(reading("w", now + 1, 400.0)))
                assert json.loads(await ws.recv())["accepted"] == 1  # same connection
            status = (await http.get("/api/status")).json()
            accepted = sum(1 for r in codes if r.status_code == 200) + 1
            accepted += sum(1 for r in replies if "accepted" in r)
            assert status["readings_accepted"] == accepted  # refused ones were not stored
            o = status["overload"]
            assert o["shed_by_reason"]["http:rate_limited"] == len(refused)
            # the frames after the first refused one are refused until it can be sent again
            # (app.services.frames): readings stay in time order
            by = o["shed_by_reason"]
            assert by["ws:rate_limited"] >= 1 and o["shedding"]
            assert by["ws:rate_limited"] + by.get("ws:after_refusal", 0) == len(shed), by
            assert [r["detail"][0]["type"] for r in shed[1:]] == ["after_refusal"] * (
                len(shed) - 1
            ), shed
            metrics = (await http.get("/metrics")).text
            assert (
                f'gasleak_shed_messages_total{{reason="rate_limited",transport="ws"}} '
                f"{float(by['ws:rate_limited'])}" in metrics
            )
            assert "gasleak_shedding 1.0" in metrics
    finally:
        stop_server(server)
