"""Clean air that falls and comes back, through the service's own path offline
(``bench.detection_probe.episodes``): prints each run that raises a leak alert (all are
false alarms) and the counts.

    python -m bench.return_grid [--lstm]

Two grids, 1 % noise, T and RH flat:

- steps: an hour of clean air at 420 or 30 gas units, then a fall to 0, 0.3, 0.6 or 0.85x
  for 5 min, 30 min, 2 h or 6 h, then clean air back at once at 0.8-1.2x, 4 h more; a
  reading every 1, 10 or 60 s (480 runs);
- slow: a fall to 0, 0.3 or 0.6x for 30 min or 2 h, then back to 0.9 or 1.0x with a room's
  time constant of 1, 5, 15 or 30 min; 420 units, 1-60 s (144 runs).
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from app.ml.predictor import load_predictor
from bench.detection_probe import ROOT, episodes


def run(pred, f: np.ndarray, level: float, dt: float, rng: np.random.Generator) -> tuple:
    """One fresh device: gas ``level * f`` (f: (n,) factor, a reading every ``dt`` s) with
    1 % noise: (rows raised, rows resolved)."""
    n = len(f)
    g = level * f * (1 + 0.01 * rng.normal(size=n))
    return episodes(pred, g, 22 + rng.normal(0, 0.05, n), 45 + rng.normal(0, 0.2, n), dt)


def main() -> None:
    pred = load_predictor(ROOT / "artifacts", use_torch="--lstm" in sys.argv)
    rng = np.random.default_rng(4)
    pre, post = 3600, 4 * 3600
    for name, grid in (
        (
            "steps",
            itertools.product(
                (1, 10, 60),
                (0, 0.3, 0.6, 0.85),
                (300, 1800, 7200, 21600),
                (0.8, 0.9, 1.0, 1.1, 1.2),
                (420, 30),
                (0.0,),
            ),
        ),
        (
            "slow",
            itertools.product(
                (1, 10, 60),
                (0.0, 0.3, 0.6),
                (1800, 7200),
                (0.9, 1.0),
                (420,),
                (60, 300, 900, 1800),
            ),
        ),
    ):
        total = raised = never = 0
        for dt, dip, dur, back, level, tau in grid:
            t = np.arange(int((pre + dur + post) / dt)) * dt
            after = np.clip(t - pre - dur, 0, None)
            ret = back + (dip - back) * np.exp(-after / tau) if tau else np.full(len(t), back)
            f = np.where(t < pre, 1.0, np.where(t < pre + dur, dip, ret))
            up, down = run(pred, f, level, dt, rng)
            total += 1
            if up:
                raised += 1
                never += len(down) < len(up)
                print(
                    f"{name}: every {dt} s, {dip}x for {dur} s, back at {back}x"
                    f" (tau {tau:g} s), level {level}: alert {int(up[0] * dt - pre - dur)} s"
                    f" after the return{', never cleared' if len(down) < len(up) else ''}"
                )
        print(f"{name}: {raised} of {total} returns raised a leak alert, {never} never cleared")


if __name__ == "__main__":
    main()
