"""Replay a real recording through a predictor as the service would (fresh device at row 0).

Used by training (figures for the manifest) and by tests/ml/test_real_slices.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from app.ml.features import series_windows
from app.ml.predictor import leak_scores
from app.training import data as D

ALERT_RAISE = 0.7
ALERT_RAISE_WINDOWS = 3
ALERT_CLEAR = 0.3


def replay(predictor: Any, series: np.ndarray, dt_s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Score every full window of one device's series (T, 3).

    Returns: the service's leak scores (N,) float64 (model probability behind the evidence
    gate, :func:`app.ml.predictor.leak_scores`) and end_index (N,) int64 (row of each
    window's last reading, relative to ``series``); the signal model starts at row 0.
    """
    w, sig, ends = series_windows(
        series, np.arange(len(series)) * dt_s, 1, predictor.signal_cfg, predictor.window
    )
    return leak_scores(predictor, w, sig)[0], ends


def first_run(probs: np.ndarray, thr: float, n: int) -> int | None:
    """Index of the window that completes the first run of ``n`` consecutive probs >= thr."""
    run = 0
    for i, p in enumerate(probs):
        run = run + 1 if p >= thr else 0
        if run >= n:
            return i
    return None


def slice_report(predictor: Any, data_dir: Path | None) -> dict[str, Any]:
    """Replay the smoke_iot clean slice (rows 0-3177) and the gas-fire slice (50021-51141)."""
    smoke = D.load_smoke_iot(data_dir)
    out: dict[str, Any] = {}
    for name, (a, b) in (
        ("clean_rows_0_3177", D.SMOKE_CLEAN),
        ("gas_fire_rows_50021_51141", D.SMOKE_GAS_FIRE),
    ):
        p, ends = replay(predictor, smoke.series[a:b], smoke.dt_s)
        k = first_run(p, ALERT_RAISE, ALERT_RAISE_WINDOWS)
        out[name] = {
            "windows": int(len(p)),
            "max_prob": round(float(p.max()), 4),
            "mean_prob": round(float(p.mean()), 4),
            "windows_ge_0.7": int((p >= ALERT_RAISE).sum()),
            "windows_gt_0.5": int((p > 0.5).sum()),
            "alert_at_row": None if k is None else int(a + ends[k]),
        }
    return out
