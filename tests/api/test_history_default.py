"""A device's readings history defaults to the device's own last hour, not the server's."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import reading


async def test_default_range_is_the_devices_last_hour(client: httpx.AsyncClient) -> None:
    day_ago = time.time() - 86_400  # as the demo stamps its readings
    batch = [reading("old-1", day_ago - 7200 + 10 * i, 400.0 + i) for i in range(721)]
    assert (await client.post("/api/readings", json=batch)).json()["accepted"] == 721
    for _ in range(100):  # the history writer flushes in the background
        r = (await client.get("/api/devices/old-1/readings", params={"bucket_s": 10})).json()
        if sum(p["n"] for p in r["points"]) >= 360:
            break
        await asyncio.sleep(0.02)
    # the hour ending just after the last reading holds last-3590 .. last, 10 s apart
    assert sum(p["n"] for p in r["points"]) == 360
    assert r["points"][0]["gas_ppm_min"] == 761.0 and r["points"][-1]["gas_ppm_max"] == 1120.0
    # a registered device with no reading falls back to the server's last hour: empty, not
    # an error; an unknown one is a 404, as its device view
    assert (await client.put("/api/devices/no-reading-yet", json={"unit": "ppm"})).is_success
    none = await client.get("/api/devices/no-reading-yet/readings")
    assert none.status_code == 200 and none.json()["points"] == []
    assert (await client.get("/api/devices/never-seen/readings")).status_code == 404
