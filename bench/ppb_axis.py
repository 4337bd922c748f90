"""Leak detection on gas far under 1 unit of its axis: ppb cells and sub-ppm ppm sensors,
replayed offline through the service's own path (:func:`bench.field_kinds.announced`:
the signal model, the model, the evidence gate and the leak policy, each reading at its own
time). The gate's ratio adds 1 gas unit to the gas and the level (``log((gas + 1) / (level
+ 1))``), so what "1 unit" is decides what a rise is worth at a low level.

    python -m bench.ppb_axis [--svm] [--axis ppm|profile] [--only clean|leaks|subppm]
        [--hours H] [--seeds N]

- ``clean``: a clean ppb cell at 5 ppb (noise sd 1 ppb, a slow wander of ±30 % over hours,
  readings rounded to whole ppb, 1 Hz), ``--seeds`` x ``--hours``: every announced leak
  alert is a false alarm. ``--more``: instead, cells at 5 ± 2, 2 ± 1 and 1 ± 1 ppb (near
  the 0 floor; 2 ± 1 is also an H2S cell at 0.02 ppm with 2 decimals counted in steps).
- ``leaks``: 30 min of clean air at 5 ± 1 ppb or 50 ± 3 ppb, then x2, x4, x10 or x40 of it
  (reached over 60 s) for 10 min, then clean again (the newcomer's ``scen_ppb.py``).
- ``subppm``: the same leaks on ppm sensors whose clean air is far under 1 ppm (a PID VOC
  sensor at 0.005 ppm with 3 decimals, an H2S cell at 0.02 ppm with 2 or 3 decimals),
  detected in ppm as declared, and, for comparison, as if the gate's offset were one
  resolution step (the gas replayed in resolution steps: the fix proposed in the README,
  not built).

``--axis profile`` (default) puts a ppb device's gas on the detection axis of
``DeviceProfile(unit="ppb").axis()`` as the service does (since the ppb-axis change: the
reading as sent); ``--axis ppm`` divides it by 1,000 as the service did before (detection
in ppm).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from app.alerting.profiles import DeviceProfile, detected_gas
from app.ml.predictor import Predictor, load_predictor
from bench.detection_probe import ROOT
from bench.field_kinds import _ou, announced

ON, OFF, END = 1800, 2400, 3000  # leak onset and end, series end (1 Hz rows)
MULTS = (2.0, 4.0, 10.0, 40.0)


def _arg(name: str, default: str) -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def ppb_axis(g: np.ndarray) -> np.ndarray:
    """A ppb reading on the detection axis chosen by ``--axis``."""
    if _arg("--axis", "profile") == "ppm":
        return g / 1000.0
    axis = DeviceProfile(unit="ppb").axis()
    return g if axis is None else np.asarray(detected_gas(g, axis), dtype=float)


def clean_cell(
    rng: np.random.Generator, hours: float, level: float = 5.0, sd: float = 1.0
) -> np.ndarray:
    """A clean cell at ``level`` ppb, 1 Hz: noise sd ``sd``, a wander of ±30 % (a sine of
    2-6 h period plus AR(1) of 1 h), rounded to whole ppb, floored at 0."""
    n = int(hours * 3600)
    t = np.arange(n, dtype=float)
    period = rng.uniform(2, 6) * 3600
    wander = 0.2 * np.sin(2 * np.pi * t / period + rng.uniform(0, 6.3)) + _ou(rng, n, 0.1, 3600, 1)
    g = level * (1 + np.clip(wander, -0.3, 0.3)) + rng.normal(0, sd, n)
    return np.clip(np.round(g), 0, None)


def leak_series(
    rng: np.random.Generator, clean: float, sd: float, mult: float, decimals: int | None
) -> np.ndarray:
    """Clean ``clean`` ± ``sd`` for 30 min, x ``mult`` (60-s ramp) for 10 min, clean 10 min;
    rounded to ``decimals`` (None: not), floored at 0."""
    ts = np.arange(END, dtype=float)
    g = clean + rng.normal(0, sd, END)
    m = (ts >= ON) & (ts < OFF)
    g[m] += clean * (mult - 1) * np.minimum((ts[m] - ON) / 60, 1)
    if decimals is not None:
        g = np.round(g, decimals)
    return np.clip(g, 0, None)


def _leak_row(
    pred: Predictor, name: str, make: Callable[[np.random.Generator], np.ndarray], seeds: int
) -> None:
    ts = np.arange(END, dtype=float)
    flat = np.full(END, 21.0)
    delays: list[object] = []
    for seed in range(seeds):
        a = announced(pred, ts, make(np.random.default_rng(seed)), flat, flat + 24.0)
        early = [r for r in a if r < ON]
        hit = next((r - ON for r in a if ON <= r < OFF), None)
        delays.append("FA" if early else hit)
    got = sum(isinstance(d, int) for d in delays)
    print(f"{name:62s} raised {got}/{seeds}  delays s {delays}", flush=True)


def main() -> None:
    pred = load_predictor(ROOT / "artifacts", use_torch="--svm" not in sys.argv)
    only = _arg("--only", "")
    seeds = int(_arg("--seeds", "4"))
    print(f"model: {pred.model_type}; ppb axis: {_arg('--axis', 'profile')}", flush=True)
    if only in ("", "clean"):
        hours = float(_arg("--hours", "6"))
        kinds = [(5.0, 1.0)] if "--more" not in sys.argv else [(5.0, 2.0), (2.0, 1.0), (1.0, 1.0)]
        for level, sd in kinds:
            alerts, t0 = [], time.time()
            for seed in range(seeds):
                g = clean_cell(np.random.default_rng(100 + seed), hours, level, sd)
                n = len(g)
                ts = np.arange(n, dtype=float)
                flat = np.full(n, 21.0)
                alerts.append(len(announced(pred, ts, ppb_axis(g), flat, flat + 24.0)))
            print(
                f"clean ppb cell {level:g} ± {sd:g} ppb, ±30 % wander, whole ppb, 1 Hz: "
                f"{alerts} leak alerts in {seeds} x {hours:g} = {seeds * hours:g} device-h "
                f"({time.time() - t0:.0f} s)",
                flush=True,
            )
    if only in ("", "leaks"):
        for clean, sd in ((5.0, 1.0), (50.0, 3.0)):
            for x in MULTS:
                _leak_row(
                    pred,
                    f"ppb device {clean:g} ± {sd:g} ppb, x{x:g} for 10 min",
                    lambda r, c=clean, s=sd, x=x: ppb_axis(leak_series(r, c, s, x, 0)),
                    seeds,
                )
    if only in ("", "subppm"):
        kinds = (
            ("PID VOC 0.005 ± 0.001 ppm, 3 decimals", 0.005, 0.001, 3),
            ("H2S 0.02 ± 0.004 ppm, 3 decimals", 0.02, 0.004, 3),
            ("H2S 0.02 ± 0.01 ppm, 2 decimals", 0.02, 0.01, 2),
        )
        for name, clean, sd, dec in kinds:
            step = 10.0**-dec
            for x in MULTS:
                _leak_row(
                    pred,
                    f"ppm {name}, x{x:g}",
                    lambda r, c=clean, s=sd, x=x, d=dec: leak_series(r, c, s, x, d),
                    seeds,
                )
                _leak_row(
                    pred,
                    f"  same, offset = 1 step ({step:g} ppm)",
                    lambda r, c=clean, s=sd, x=x, d=dec, k=step: leak_series(r, c, s, x, d) / k,
                    seeds,
                )


if __name__ == "__main__":
    main()
