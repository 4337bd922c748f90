"""Start-up cost of the device restore: devices rebuilt from their readings history (no
snapshot: first seen after the last save of a process that was then killed) against the
same devices restored from snapshots.

    python -m bench.restore                          # 1,000 devices x 100 readings
    python -m bench.restore --devices 200 --readings 1000 --stale 10000

On a fresh SQLite file in a temp folder, with the shipped model's signal parameters:
``--devices`` registered devices with ``--readings`` readings of history each at 1 Hz
(400 ppm, sd 4) and no snapshot, plus ``--stale`` registered devices last heard from two
days ago (outside ``--keep-s``: not rebuilt, only looked at). Prints, wall clock on this
machine, each of ``--repeats`` runs of :meth:`app.services.snapshots.Snapshots.restore`
into fresh buffers (s, with its time reading the history and learning it), the same
readings learned straight from memory (``DeviceBuffers.store``: what learning them costs
at all), then the restore of the same devices from their snapshots.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.ml.signal import SignalConfig
from app.services.buffers import DeviceBuffers
from app.services.signals import SignalBank
from app.services.snapshots import Snapshots
from app.store import Store


def _cfg() -> SignalConfig:
    manifest = json.loads((Path(Settings().artifacts_dir) / "manifest.json").read_text())
    return SignalConfig.from_dict(manifest["signal"])


async def run(devices: int, readings: int, stale: int, keep_s: float, repeats: int) -> None:
    """Fill a store, then time the restores (module doc); prints one line each."""
    cfg = _cfg()
    window = int(cfg.warmup)

    def fresh() -> DeviceBuffers:
        n = devices + stale + 10
        return DeviceBuffers(window=window, max_devices=n, signals=SignalBank(cfg))

    store = Store(f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench-restore-')}/r.db")
    await store.migrate()
    now = time.time()
    t0 = now - readings - 10
    ids = [f"dev-{i:05d}" for i in range(devices)]
    rng = np.random.default_rng(1)
    rows: list[tuple[str, float, float, float, float]] = []
    for dev in ids:
        gas = 400 + rng.normal(0, 4, readings)
        rows += [(dev, t0 + j, float(gas[j]), 21.0, 45.0) for j in range(readings)]
    old = [f"old-{i:05d}" for i in range(stale)]
    old_rows = [(d, now - 2 * 86_400 + j, 400.0, 21.0, 45.0) for d in old for j in range(10)]
    for part in (rows, old_rows):
        for i in range(0, len(part), 50_000):
            await store.readings.add(part[i : i + 50_000])
    await store.devices.add(ids + old, now)
    print(f"{devices} devices x {readings} readings ({devices * readings:,}), {stale} stale")

    spent = {"read": 0.0, "learn": 0.0}

    def timed(key: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            out = await fn(*a, **k)
            spent[key] += time.perf_counter() - t
            return out

        return call

    repo = store.snapshots
    repo.recent_readings = timed("read", repo.recent_readings)  # type: ignore[method-assign]
    rebuilt = fresh()
    for _ in range(repeats):
        rebuilt = fresh()
        store_fn = rebuilt.store

        def learn(*a: Any, _fn: Any = store_fn, **k: Any) -> Any:
            t = time.perf_counter()
            out = _fn(*a, **k)
            spent["learn"] += time.perf_counter() - t
            return out

        rebuilt.store = learn  # type: ignore[method-assign]
        spent.update(read=0.0, learn=0.0)
        t = time.perf_counter()
        done = await Snapshots(repo, rebuilt, keep_s=keep_s).restore()
        print(
            f"  rebuilt from history: {time.perf_counter() - t:.2f} s (reading "
            f"{spent['read']:.2f} s, learning {spent['learn']:.2f} s) {done}"
        )
        rebuilt.store = store_fn  # type: ignore[method-assign]
    a = np.asarray([r[1:] for r in rows], dtype=np.float64)
    of = [r[0] for r in rows]
    for _ in range(repeats):
        t = time.perf_counter()
        fresh().store(of, a[:, 0], a[:, 1:], strict=True, windows=False)
        print(f"  the same readings learned from memory: {time.perf_counter() - t:.2f} s")
    await Snapshots(repo, rebuilt, keep_s=keep_s).save()
    for _ in range(repeats):
        b = fresh()
        t = time.perf_counter()
        done = await Snapshots(repo, b, keep_s=keep_s).restore()
        print(f"  restored from snapshots: {time.perf_counter() - t:.2f} s {done}")
    await store.close()


def main() -> None:
    """Command line (module doc)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--readings", type=int, default=100, help="history per device")
    ap.add_argument("--stale", type=int, default=0, help="registered, heard from 2 days ago")
    ap.add_argument("--keep-s", type=float, default=86_400.0, help="device_idle_s")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(run(a.devices, a.readings, a.stale, a.keep_s, a.repeats))


if __name__ == "__main__":
    main()
