"""Which of the 1 Hz benchmark's seeded leaks the detector misses, by amplitude band and
leak shape, replayed offline through the service's path (the evaluation's
``leak_benchmark_smoke_clean``: smoke_iot clean rows 0-3177 with seeded leaks, the same
injector and seed; the first ``--replicates`` of its 40 replicates).

    python -m bench.benchmark_misses [--svm] [--replicates 10] [--set NAME=VALUE ...]

``--set`` replaces a signal-model parameter (:class:`app.ml.signal.SignalConfig`) for the
run, e.g. ``--set sens_t_per_c=0 --set sens_rh_per_pct=0`` (what the ambient allowance
costs: docs/DETECTION_LOG.md, 9 Dec). Prints the false alarms on the untouched rows, event
recall >= 3 sd and per band (sd: the background's 4.86 ppm), recall >= 10 sd per shape, and
the median detection delay (s). Needs ``../shared/data`` (``GASLEAK_DATA_DIR``).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from app.alerting.configure import evaluation_policy
from app.ml.features import WINDOW
from app.ml.predictor import load_predictor
from app.training import data as D
from app.training.leaks import SHAPES, LeakInjector
from app.training.online_replay import replay
from app.training.quality import match_events
from app.training.reference_detectors import gated_detector

#: Amplitude bands printed (sd of the background gas), lower edge inclusive.
BANDS = ((3.0, 10.0), (10.0, 40.0), (40.0, np.inf))


def main(argv: list[str] | None = None) -> int:
    """Run and print (see module doc); 0."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--svm", action="store_true", help="the pure-SVM fallback")
    ap.add_argument("--replicates", type=int, default=10)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    args = ap.parse_args(argv)
    pred = load_predictor(args.artifacts, use_torch=not args.svm)
    for kv in args.set:
        name, value = kv.split("=", 1)
        pred.signal_cfg = dataclasses.replace(pred.signal_cfg, **{name: float(value)})
    det = gated_detector("model", pred, "")
    pol, sig = evaluation_policy(), pred.signal_cfg
    smoke = D.load_smoke_iot(None)
    a, b = D.SMOKE_CLEAN
    bg = smoke.series[a:b]
    ts = np.arange(len(bg), dtype=np.float64)
    # as app.training.leak_benchmark.smoke_clean_benchmark (seed 0)
    inj = LeakInjector(
        dt_s=1.0, amplitude_range=(0.02, 5.0), duration_range=(60, 300), gap_range=(60, 240)
    )
    rng = np.random.default_rng(0)
    sd, med = float(bg[:, 0].std()), float(np.median(bg[:, 0]))
    fa = len(replay(det, bg, ts, pol, sig).announced)
    shapes, ks, delays = [], [], []
    for _ in range(args.replicates):
        res = inj.inject(bg, seed=rng)
        run = replay(det, res.series, ts, pol, sig)
        d = match_events(
            [e.onset for e in res.events],
            [e.onset + e.duration for e in res.events],
            run.announced,
            grace=WINDOW,
        )
        for e, dl in zip(res.events, d, strict=True):
            shapes.append(e.shape)
            ks.append(float(np.expm1(e.amplitude) * (med + 1.0) / sd))
            delays.append(int(dl))
    k, dl, sh = np.array(ks), np.array(delays), np.array(shapes)
    hit = dl >= 0
    print(f"false alarms on the untouched rows: {fa}; leaks: {len(k)}")
    print(f"recall >= 3 sd: {hit[k >= 3].mean():.3f}")
    for lo, hi in BANDS:
        m = (k >= lo) & (k < hi)
        print(f"  {lo:g}-{hi:g} sd: {hit[m].mean():.3f} of {int(m.sum())}")
    for s in SHAPES:
        m = (sh == s) & (k >= 10)
        print(f"  {s} >= 10 sd: {hit[m].mean():.3f} of {int(m.sum())}")
    print(f"median delay: {np.median(dl[hit]):.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
