"""``python -m bench.memory``: where the bytes per tracked device go, in-process.

Builds the real service (``create_app`` with its lifespan, a fresh SQLite store), sends
``--readings`` readings to each of ``--devices`` new devices through ``POST /api/readings``
(5,000 a message, as the memory phase of ``python -m bench``), waits for scoring and for the
history writer, and compares two ``tracemalloc`` snapshots: every allocation still held
(numpy buffers included), per device, with the source lines that hold most of it. With
``--readings 61`` or more each device is past its signal warm-up and has had windows scored:
the steady state, against the one-reading devices of ``python -m bench``.

Prints the table, then one JSON line: devices, readings_per_device, traced_bytes_per_device,
top [{where, bytes_per_device, blocks}].
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import tempfile
import time
import tracemalloc
from typing import Any

import httpx


async def run(devices: int, readings: int, top: int) -> dict[str, Any]:
    """Build the app, add the devices, diff the snapshots (see the module docstring)."""
    from asgi_lifespan import LifespanManager

    from app.main import create_app

    key = os.environ["GASLEAK_BOOTSTRAP_ADMIN_KEY"]
    app = create_app()
    async with LifespanManager(app, startup_timeout=300, shutdown_timeout=120) as m:
        state = app.state.gasleak
        transport = httpx.ASGITransport(app=m.app)
        headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

            async def post(ids: list[str], ts: float) -> None:
                body = ",".join(
                    f'{{"device_id":"{d}","ts":{ts},"gas_ppm":{420.0 + (i % 7) * 0.5},'
                    f'"temperature_c":21.0,"humidity_pct":45.0}}'
                    for i, d in enumerate(ids)
                )
                while True:  # admission control may shed under load: wait and resend
                    r = await http.post("/api/readings", content="[" + body + "]", headers=headers)
                    if r.status_code != 429:
                        r.raise_for_status()
                        return
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))

            async def settle() -> None:
                while state.scorer.pending:
                    await asyncio.sleep(0.05)
                await state.recorder.flush()
                await asyncio.sleep(0.2)
                gc.collect()

            t0 = round(time.time() - readings - 10, 3)
            await post([f"warm-{i}" for i in range(1000)], t0)  # first-use allocations
            await settle()
            new = [f"mem-{i:07d}" for i in range(devices)]  # the bench's, not counted
            tracemalloc.start(1)
            before = tracemalloc.take_snapshot()
            for k in range(readings):
                for a in range(0, devices, 5000):
                    await post(new[a : a + 5000], t0 + 1 + k)
            await settle()
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
    diff = after.compare_to(before, "lineno")
    total = sum(d.size_diff for d in diff)
    return {
        "devices": devices,
        "readings_per_device": readings,
        "traced_bytes_per_device": round(total / devices),
        "top": [
            {
                "where": f"{d.traceback[0].filename.rsplit('/', 3)[-1]}:{d.traceback[0].lineno}",
                "bytes_per_device": round(d.size_diff / devices, 1),
                "blocks": d.count_diff,
            }
            for d in diff[:top]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print the table and the JSON line."""
    p = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n")[0])
    p.add_argument("--devices", type=int, default=100_000, help="new devices")
    p.add_argument("--readings", type=int, default=1, help="readings per device")
    p.add_argument("--top", type=int, default=12, help="source lines listed")
    args = p.parse_args(argv)
    store = tempfile.mkdtemp(prefix="gasleak-memory-")
    os.environ["GASLEAK_DB_PATH"] = os.path.join(store, "bench.db")
    os.environ.pop("GASLEAK_DATABASE_URL", None)
    os.environ.setdefault("GASLEAK_BOOTSTRAP_ADMIN_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("GASLEAK_MAX_DEVICES", str(args.devices + 1000))
    out = asyncio.run(run(args.devices, args.readings, args.top))
    print(f"{out['traced_bytes_per_device']} B per device held ({out['devices']} devices, ")
    print(f"{out['readings_per_device']} readings each); largest holders:")
    for t in out["top"]:
        print(f"  {t['bytes_per_device']:8.1f} B/device  {t['blocks']:+9d} blocks  {t['where']}")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
