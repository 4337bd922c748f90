"""A failed or condensing T/RH probe against a real server: its error values (SHT3x raw 0 =
-45 °C, 0xFFFF = 130 °C; RH far outside 0-100 %) no longer refuse the reading whole. The gas
is stored and checked against the set points, the reply names the ambient field and why,
and the device's ``ambient_out_of_range`` sensor fault is raised; it is not ``silent``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import LiveServer, reading, start_server, stop_server


@pytest.fixture
def server() -> Iterator[LiveServer]:
    """A live server, model off (only the safety rules raise), a short silence limit."""
    s = start_server({"GASLEAK_MODEL_ENABLED": "false", "GASLEAK_SILENT_S": "2"})
    yield s
    stop_server(s)


def _events(c: httpx.Client, device: str) -> list[dict[str, Any]]:
    r = c.get("/api/events", params={"device_id": device, "limit": 1000})
    return list(r.json()["events"])


def test_a_failed_probe_keeps_the_gas_and_raises_the_alarm(server: LiveServer) -> None:
    """The newcomer's live case: clean air, then the probe fails (-45 °C, 0 %RH) while the gas
    reaches 13,000 ppm, over the 12,500 ppm high set point."""
    dev = "probe-1"
    t0 = time.time() - 120
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as c:
        clean = [reading(dev, t0 + 10 * i, 420.0, 21.0, 45.0) for i in range(6)]
        assert c.post("/api/readings", json=clean).json()["rejected"] == []
        replies = []
        for k in range(4):  # one reading each ~1 s: the device reports, it is not silent
            one = reading(dev, time.time(), 13_000.0 if k else 420.0, -45.0, 0.0)
            r = c.post("/api/readings", json=[one])
            assert r.status_code == 200, r.text
            replies.append(r.json())
            time.sleep(1.0)
        for rep in replies:
            assert rep["accepted"] == 1 and rep["rejected"] == [], rep
            [w] = rep["warnings"]
            assert w["index"] == 0
            [note] = w["warnings"]
            assert note["field"] == "temperature_c" and note["type"] == "ambient_out_of_range"
            assert "-45 °C is outside the physical range [-40, 125] °C" in note["reason"]
        evs = _events(c, dev)
        kinds = [(e["type"], e["kind"], e["reason"], e["severity"]) for e in evs]
        assert ("alert.raised", "threshold", "high", "critical") in kinds, kinds
        faults = [e for e in evs if e["kind"] == "sensor_fault"]
        assert faults and faults[0]["reason"] == "ambient_out_of_range", faults
        assert faults[0]["severity"] == "warning"
        assert "temperature_c" in faults[0]["detail"]
        assert not [e for e in evs if e["reason"] == "silent"], kinds
        top = 0.0
        for _ in range(100):  # the history is written behind the reply
            pts = c.get(f"/api/devices/{dev}/readings").json()["points"]
            top = max((p["gas_ppm_max"] for p in pts), default=0.0)
            if top >= 13_000.0:
                break
            time.sleep(0.1)
        assert top == 13_000.0, pts
        view = c.get(f"/api/devices/{dev}").json()
        assert view["last_reading"]["gas_ppm"] == 13_000.0, view
        # the temperature the detector and history hold is the last one known, not -45
        assert view["last_reading"]["temperature_c"] == 21.0, view


def test_ambient_values_out_of_range_are_named_per_reading(server: LiveServer) -> None:
    """A batch: 130 °C (0xFFFF) and humidity -5 %RH are unknown, 100.4 %RH and -0.3 %RH
    are clipped, a bad gas is still refused as before; only the gas refuses a reading."""
    now = time.time()
    body = [
        reading("b1", now, 400.0, 130.0, 45.0),
        reading("b2", now, 400.0, 21.0, 100.4),
        reading("b3", now, 400.0, 21.0, -0.3),
        reading("b4", now, 400.0, 21.0, 104.0),
        reading("b5", now, -5.0, -45.0, 45.0),
        reading("b6", now, 400.0, 21.0, 45.0),
    ]
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as c:
        rep = c.post("/api/readings", json=body).json()
    assert rep["accepted"] == 5, rep
    assert [b["index"] for b in rep["rejected"]] == [4]
    assert [e["field"] for e in rep["rejected"][0]["errors"]] == ["gas_ppm"]
    got = {w["index"]: [(n["field"], n["type"]) for n in w["warnings"]] for w in rep["warnings"]}
    assert got == {
        0: [("temperature_c", "ambient_out_of_range")],
        1: [("humidity_pct", "ambient_clipped")],
        2: [("humidity_pct", "ambient_clipped")],
        3: [("humidity_pct", "ambient_out_of_range")],
    }, rep
    clipped = rep["warnings"][1]["warnings"][0]["reason"]
    assert "100.4 %RH" in clipped and "clipped to 100 %RH" in clipped


async def test_a_websocket_reply_names_the_ambient_field(server: LiveServer) -> None:
    one = reading("ws-1", time.time(), 400.0, -45.0, 45.0)
    async with websockets.connect(
        server.ws + "/ws/readings", additional_headers=server.headers
    ) as ws:
        await ws.send(json.dumps(one))
        reply = json.loads(await ws.recv())
    assert reply["accepted"] == 1, reply
    assert reply["warnings"][0]["warnings"][0]["field"] == "temperature_c", reply


def test_the_openapi_schema_describes_the_warnings(server: LiveServer) -> None:
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as c:
        spec = c.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "warnings" in schemas["IngestResult"]["properties"]
    assert "Warned" in schemas
    body = spec["paths"]["/api/readings"]["post"]["requestBody"]["content"]["application/json"]
    temp = body["schema"]["anyOf"][0]["properties"]["temperature_c"]
    assert "minimum" not in temp and "ambient_out_of_range" in temp["description"]


def test_a_device_whose_gas_is_refused_is_heard_not_silent(server: LiveServer) -> None:
    """A reading refused for its gas (-5 ppm; a string) is not stored, but its tracked
    device reported: the silence limit (2 s here) passes without ``silent``, and its
    ``out_of_range`` sensor fault names the refusal instead."""
    dev = "neg-1"
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as c:
        now = time.time()
        clean = [reading(dev, now - 3 + i, 420.0) for i in range(3)]
        assert c.post("/api/readings", json=clean).json()["rejected"] == []
        end = time.time() + 5.0
        k = 0
        while time.time() < end:
            gas: Any = -5.0 if k % 2 else "400"
            r = c.post("/api/readings", json=[reading(dev, time.time(), gas)])
            assert r.status_code == 200 and r.json()["rejected"][0]["index"] == 0, r.text
            k += 1
            time.sleep(0.4)
        evs = _events(c, dev)
    got = [(e["type"], e["kind"], e["reason"]) for e in evs]
    assert got[0] == ("alert.raised", "sensor_fault", "out_of_range"), got
    assert "reading refused for its gas, not stored: gas_ppm: " in evs[0]["detail"]
    assert not [g for g in got if g[2] == "silent"], got


def test_a_new_device_first_message_raises_the_refusal_of_its_gas(server: LiveServer) -> None:
    """A device never seen before whose first message holds a good reading and one refused
    for its gas (either order): the refused one raises ``out_of_range`` as it would in a
    later message. Before, the device was not tracked yet when the refusals were checked,
    so the fault was never raised."""
    now = time.time()
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as c:
        for dev, gases in (("n1", (400.0, -5.0)), ("n2", (-5.0, 400.0))):
            body = [reading(dev, now + k * 0.5, g) for k, g in enumerate(gases)]
            rep = c.post("/api/readings", json=body).json()
            assert rep["accepted"] == 1 and len(rep["rejected"]) == 1, rep
            got = [(e["type"], e["kind"], e["reason"]) for e in _events(c, dev)]
            assert ("alert.raised", "sensor_fault", "out_of_range") in got, (dev, got)


def test_a_repeated_gas_key_is_no_sensor_fault_and_every_field_error_is_named(
    server: LiveServer,
) -> None:
    """A reading that repeats its ``gas_ppm`` key is malformed JSON from the gateway, not a
    refusal of the sensor's gas: no ``out_of_range`` fault (before, it raised one). A reading
    whose gas is out of range and whose temperature is not a number names both fields
    (before, only ``temperature_c``: the range is checked after the schema)."""
    now = time.time()
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=30) as c:
        for dev in ("f5", "f6"):
            assert (
                c.post("/api/readings", json=[reading(dev, now - 1, 400.0)]).json()["rejected"]
                == []
            )
        ts = json.dumps(now)
        raw = (
            '[{"device_id":"f5","ts":' + ts + ',"gas_ppm":-5,"gas_ppm":-6,'
            '"temperature_c":20,"humidity_pct":50},'
            '{"device_id":"f6","ts":' + ts + ',"gas_ppm":-5,"temperature_c":"x","humidity_pct":50}]'
        )
        r = c.post("/api/readings", content=raw, headers={"Content-Type": "application/json"})
        rep = r.json()
        assert rep["accepted"] == 0, rep
        got = {b["index"]: [(e["field"], e["type"]) for e in b["errors"]] for b in rep["rejected"]}
        assert got[0] == [("gas_ppm", "duplicate_key")], rep
        assert [f for f, _ in got[1]] == ["gas_ppm", "temperature_c"], rep
        assert "-5 is below 0" in rep["rejected"][1]["errors"][0]["reason"]
        kinds = [(e["device_id"], e["reason"]) for e in _events(c, "f5") + _events(c, "f6")]
    assert not [k for k in kinds if k[1] == "out_of_range"], kinds
