"""Raw-unit devices with a live zero or a falling output, through the whole service
(in process: REST readings, profiles, ring buffers, signal model, model, gate, policy):
prints, per case, the alerts raised (kind, severity) and the seconds from the leak's onset
to the first leak alert.

    python -m bench.raw_zero [--no-axis] [--seeds N]

Also a 16-bit ADC centred at 32,768 counts (240 counts sd, 60 counts a %LEL).
``--no-axis`` sets only the unit (the profile as it could be before ``zero`` /
``polarity``: the reading judged as a whole). A 4-20 mA loop read across 250 ohm is 1,000 mV
at no gas and 5,000 mV at 100 %LEL: 40 mV a %LEL. Noise: 5 mV sd (0.125 %LEL). Each device
is fresh: the leak starts after its warm-up and settling (800 s of clean air at 1 Hz).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app

ZERO_MV = 1000.0
MV_PER_PCT_LEL = 40.0
NOISE_MV = 5.0
CLEAN_S = 800
LEAK_S = 300


def _cases(rng: np.random.Generator) -> list[tuple[str, dict[str, Any], np.ndarray, int | None]]:
    """(name, profile, gas in mV at 1 Hz, leak onset row or None)."""
    out: list[tuple[str, dict[str, Any], np.ndarray, int | None]] = []
    for pct in (3, 5, 12):
        g = ZERO_MV + rng.normal(0, NOISE_MV, CLEAN_S + LEAK_S)
        g[CLEAN_S:] += pct * MV_PER_PCT_LEL
        out.append((f"1,000 mV zero, +{pct} %LEL", {"zero": ZERO_MV}, g, CLEAN_S))
    # a 16-bit ADC centred at 32,768 counts, 240 counts sd, 60 counts a %LEL (the newcomer's)
    for pct in (12, 20):
        g = 32768.0 + rng.normal(0, 240.0, CLEAN_S + LEAK_S)
        g[CLEAN_S:] += pct * 60.0
        prof = {"unit": "counts", "zero": 32768.0}
        out.append((f"32,768 counts zero, +{pct} %LEL", prof, g, CLEAN_S))
    g = 2500.0 + rng.normal(0, NOISE_MV, CLEAN_S + LEAK_S)
    g[CLEAN_S:] -= 300.0
    out.append(("falling 2,500 mV, -300 mV", {"zero": 2500.0, "polarity": "falling"}, g, CLEAN_S))
    # a clean hour: noise, a slow +-10 mV wander (0.25 %LEL) over 20 min
    t = np.arange(3600)
    g = ZERO_MV + 10.0 * np.sin(2 * np.pi * t / 1200) + rng.normal(0, NOISE_MV, t.size)
    out.append(("1,000 mV zero, clean hour", {"zero": ZERO_MV}, g, None))
    g = 2500.0 - 10.0 * np.sin(2 * np.pi * t / 1200) + rng.normal(0, NOISE_MV, t.size)
    out.append(("falling 2,500 mV, clean hour", {"zero": 2500.0, "polarity": "falling"}, g, None))
    return out


async def _run(
    c: httpx.AsyncClient, device: str, profile: dict[str, Any], gas: np.ndarray
) -> list[dict[str, Any]]:
    r = await c.put(f"/api/devices/{device}", json={"unit": "mV", **profile})
    r.raise_for_status()
    t0 = time.time() - gas.size - 60
    rows = [
        {
            "device_id": device,
            "ts": t0 + i,
            "gas_ppm": float(g),
            "temperature_c": 21.0,
            "humidity_pct": 45.0,
        }
        for i, g in enumerate(gas)
    ]
    for j in range(0, len(rows), 100):
        r = await c.post("/api/readings", json=rows[j : j + 100])
        assert r.json()["accepted"] == len(rows[j : j + 100]), r.text
    want = (await c.get("/api/status")).json()["windows_submitted"]
    while (await c.get("/api/status")).json()["windows_scored"] < want:
        await asyncio.sleep(0.05)
    ev = (await c.get("/api/events", params={"device_id": device, "limit": 1000})).json()
    return [e | {"row": round(e_ts(e) - t0)} for e in ev["events"]]


def e_ts(e: dict[str, Any]) -> float:
    """An event's reading time, epoch s."""
    from datetime import datetime

    return datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()


async def main(no_axis: bool, seeds: int, key: str) -> None:
    """Run every case for ``seeds`` seeds and print one line per case and seed."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(db_path=Path(tmp) / "g.db", bootstrap_admin_key=key))
        async with LifespanManager(app, startup_timeout=120) as m:
            transport = httpx.ASGITransport(app=m.app)
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(
                transport=transport, base_url="http://t", headers=headers, timeout=120
            ) as c:
                for seed in range(seeds):
                    for k, (name, profile, gas, onset) in enumerate(
                        _cases(np.random.default_rng(seed))
                    ):
                        prof = profile
                        if no_axis:
                            prof = {k: v for k, v in profile.items() if k == "unit"}
                        ev = await _run(c, f"raw-{seed}-{k}", prof, gas)
                        raised = [e for e in ev if e["type"] == "alert.raised"]
                        leak = [e["row"] for e in raised if e["kind"] == "leak"]
                        first = "-" if not leak or onset is None else f"{leak[0] - onset} s"
                        kinds = [f"{e['kind']}/{e['severity']}@{e['row']}" for e in raised]
                        print(
                            f"seed {seed} {name:32s} raised {len(raised)}: {kinds} "
                            f"first leak alert after onset: {first}"
                        )


if __name__ == "__main__":
    import os
    import secrets

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-axis", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    # the service runs in process: a one-off admin key unless one is given
    key = os.environ.get("GASLEAK_BOOTSTRAP_ADMIN_KEY") or secrets.token_hex(20)
    asyncio.run(main(a.no_axis, a.seeds, key))
