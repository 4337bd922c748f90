"""Per-reading cost of the safety rules: this tree's ``app/alerting/safety.py`` and, when
given, an older ``SafetyRules`` module (e.g. the pre-episode rules), in µs per reading.

    git show 9d5a6b6:app/services/safety.py > /tmp/old_safety.py
    .venv/bin/python -m bench.rules --old /tmp/old_safety.py

Two streams of 20,000 readings over 100 devices: clean air (the simulator's background,
no alert) and gas held above the high set point (an open threshold alarm on every device).
Median of 3 runs; wall clock, so other load on the machine shows.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.alerting.safety import SafetyRules
from app.sim import clean_air

N, DEVICES = 20_000, 100


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("old_safety", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_safety"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _us_per_reading(make: Callable[[], Any], rows: list[tuple[float, float, float]]) -> float:
    times = []
    for _ in range(3):
        rules = make()
        t0 = time.perf_counter()
        for i, (g, t, h) in enumerate(rows):
            rules.check(f"d{i % DEVICES}", 1.7e9 + i, g, t, h, now=float(i))
        times.append((time.perf_counter() - t0) / len(rows) * 1e6)
    return statistics.median(times)


def main() -> None:
    """Print µs per reading for each variant and stream."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--old", help="path of an older safety-rules module to compare")
    args = ap.parse_args()
    streams = {
        "clean air": [tuple(r) for r in clean_air(N, np.random.default_rng(0)).tolist()],
        "open alarm": [(13_000.0 + i % 7, 21.0 + 0.01 * (i % 3), 45.0) for i in range(N)],
    }
    variants: dict[str, Callable[[], Any]] = {"this tree": SafetyRules}
    if args.old:
        variants = {"old": _load(args.old).SafetyRules, **variants}
    for name, make in variants.items():
        for stream, rows in streams.items():
            print(f"{name:10s} {stream:10s}: {_us_per_reading(make, rows):6.2f} µs/reading")


if __name__ == "__main__":
    main()
