"""``python -m bench.ingest_keys``: what refusing repeated JSON keys costs the ingest fast path.

Times, in-process, the fast path's pieces on frames of N readings as ``bench.load`` sends
them: ``validate_json`` (pydantic, the whole frame) and ``keys_once`` (the repeated-key check
added for issue 11), best of 7 runs of 50 calls each. Prints one JSON object:
``{n: {"validate_us", "keys_once_us", "overhead_pct"}}``.
"""

from __future__ import annotations

import json
import time

from app.services.ingest import _READINGS, keys_once
from bench.load import Fleet


def frame(n: int) -> bytes:
    """N readings of N devices, one frame."""
    fleet = Fleet(n, 1.0, time.time() - 60, {})
    return ("[" + ",".join(fleet.encode(i, fleet.ts_of(i, 0)) for i in range(n)) + "]").encode()


def best_us(fn: object, raw: bytes, calls: int = 50) -> float:
    """Best of 7 runs: microseconds per call."""
    runs = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(calls):
            fn(raw)  # type: ignore[operator]
        runs.append((time.perf_counter() - t) / calls * 1e6)
    return round(min(runs), 1)


def main() -> None:
    """Print the JSON line."""
    out = {}
    for n in (1, 62, 1250, 10_000):
        raw = frame(n)
        readings = _READINGS.validate_json(raw)
        v = best_us(_READINGS.validate_json, raw)
        k = best_us(lambda r, rs=readings: keys_once(r, rs), raw)
        out[n] = {"validate_us": v, "keys_once_us": k, "overhead_pct": round(100 * k / v, 1)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
