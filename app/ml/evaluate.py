"""Evaluate the shipped artifacts on data never trained on; entry ``run_evaluate`` for
``python main.py --mode evaluate``.

Figures: (1) the smoke_iot clean (rows 0-3177) and gas-fire (rows 50021-51141) slices replayed
at 1 Hz; (2) air_quality_uci test months (from 2004-11-01, hourly), split into sessions at
missing values, with seeded injected leaks, scored per window (accuracy/precision/recall/F1).
Writes ``ml_evaluation.json`` and ``fire_slice.png`` to the report folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.ml import data as D
from app.ml.artifacts import ArtifactError
from app.ml.dataset import WindowSet, label_windows
from app.ml.leaks import LeakInjector
from app.ml.metrics import metrics
from app.ml.predictor import Predictor, load_predictor
from app.ml.replay import replay, slice_report

#: Seed of the injected leaks on the test months (fixed so reruns compare).
TEST_SEED = 12345


def airq_test_set(data_dir: Path | None, seed: int = TEST_SEED) -> WindowSet:
    """Windows from air_quality_uci hours from 2004-11-01 with injected leaks."""
    aq = D.load_air_quality(data_dir)
    rows = aq.dates >= D.AIRQ_TRAIN_BEFORE
    inj = LeakInjector(dt_s=aq.dt_s, duration_range=(6, 48), gap_range=(72, 240))
    rng = np.random.default_rng(seed)
    parts = [label_windows(inj.inject(s, seed=rng), aq.dt_s, 1, False)
             for s in D.split_sessions(aq.series[rows], min_len=150)]  # fmt: skip
    return WindowSet.concat(parts)


def evaluate(predictor: Predictor, data_dir: Path | None) -> dict[str, Any]:
    """Figures for one predictor (see module docstring)."""
    ws = airq_test_set(data_dir)
    p = predictor.predict_proba(ws.windows, ws.baselines)
    return {"real_slices": slice_report(predictor, data_dir),
            "air_quality_test_injected": metrics(ws.labels, p)}  # fmt: skip


def _plot_fire(preds: list[Predictor], data_dir: Path | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    smoke = D.load_smoke_iot(data_dir)
    a, b = D.SMOKE_GAS_FIRE
    fig, ax = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    ax[0].plot(np.arange(a, b), smoke.series[a:b, 0])
    ax[0].set_ylabel("eCO2 [ppm]")
    for pred in preds:
        prob, ends = replay(pred, smoke.series[a:b])
        ax[1].plot(a + ends, prob, label=pred.model_type)
    ax[1].axhline(0.7, ls="--", c="k", lw=0.8)
    ax[1].set_ylabel("leak probability")
    ax[1].set_xlabel("smoke_iot row (1 Hz)")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_evaluate(args: argparse.Namespace) -> int:
    """CLI entry: uses ``artifacts_dir``, ``data_dir``, ``device``, ``report_dir`` when set."""
    root = Path(__file__).resolve().parents[2]
    art = Path(getattr(args, "artifacts_dir", None) or root / "artifacts")
    data_dir = getattr(args, "data_dir", None)
    out = Path(getattr(args, "report_dir", None) or root / "reports" / "latest")
    try:
        preds = [load_predictor(art, device=getattr(args, "device", None) or "auto"),
                 load_predictor(art, use_torch=False)]  # fmt: skip
        report = {p.model_type: evaluate(p, data_dir) for p in preds}
        out.mkdir(parents=True, exist_ok=True)
        (out / "ml_evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
        _plot_fire(preds, data_dir, out / "fire_slice.png")
    except (ArtifactError, FileNotFoundError, ValueError) as exc:
        print(f"evaluation failed: {exc}")
        return 1
    print(json.dumps(report, indent=2))
    print(f"report written to {out}")
    return 0
