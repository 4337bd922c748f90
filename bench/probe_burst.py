"""``python -m bench.probe_burst URL KEY``: how long ``/livez`` takes while a burst of large
messages is ingested.

Sends ``--posts`` (60) concurrent ``POST /api/readings`` of ``--readings`` (2,000) readings
each (50 devices per message, one reading per device per second, stamped ``--offset-s``
seconds after an hour and a half ago: give each run another offset, or its readings are out
of order for the devices of the run before) to a running server, and polls ``/livez`` every
50 ms meanwhile. Prints one JSON line: the burst's wall time, the status codes, and the
``/livez`` count, median and maximum time, s. Docker's HEALTHCHECK here gives up at 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import httpx


async def run(url: str, key: str, posts: int, readings: int, offset_s: float) -> dict:
    """The burst and the probe; the figures."""
    t0 = time.time() - 5400 + offset_s
    bodies = [
        [
            {
                "device_id": f"burst-{c}-{i % 50}",
                "ts": t0 + i // 50,
                "gas_ppm": 420.0 + (i % 7),
                "temperature_c": 21.0,
                "humidity_pct": 45.0,
            }
            for i in range(readings)
        ]
        for c in range(posts)
    ]
    lat: list[float] = []
    done = asyncio.Event()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as http:

        async def probe() -> None:
            while not done.is_set():
                t = time.perf_counter()
                (await http.get("/livez")).raise_for_status()
                lat.append(time.perf_counter() - t)
                await asyncio.sleep(0.05)

        task = asyncio.create_task(probe())
        start = time.perf_counter()
        replies = await asyncio.gather(*(http.post("/api/readings", json=b) for b in bodies))
        wall = time.perf_counter() - start
        done.set()
        await task
    codes: dict[int, int] = {}
    for r in replies:
        codes[r.status_code] = codes.get(r.status_code, 0) + 1
    lat.sort()
    return {
        "posts": posts,
        "readings_per_post": readings,
        "burst_s": round(wall, 2),
        "codes": codes,
        "livez_n": len(lat),
        "livez_p50_s": round(lat[len(lat) // 2], 3),
        "livez_max_s": round(lat[-1], 3),
    }


def main() -> None:
    """Parse the arguments, run once, print the JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url")
    ap.add_argument("key", help="a gateway (or admin) API key")
    ap.add_argument("--posts", type=int, default=60)
    ap.add_argument("--readings", type=int, default=2000)
    ap.add_argument("--offset-s", type=float, default=0.0)
    a = ap.parse_args()
    print(json.dumps(asyncio.run(run(a.url, a.key, a.posts, a.readings, a.offset_s))))


if __name__ == "__main__":
    main()
