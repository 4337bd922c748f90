"""``python -m bench --accel-compare``: each encoder variant of app/ml/accel.py, in-process.

For each variant: windows/s at the service's thread count and batch sizes, and its effect on
detection on real recordings: probabilities against the eager model, and window-level ROC
AUC, recall and precision at the raise threshold on the smoke_iot hold-out rows
49988-62629 (labels: ``Fire Alarm``), or on simulated leaks when the data is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.ceiling import rate

DATA = Path(
    os.environ.get("GASLEAK_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
SMOKE_CSV = DATA / "smoke_iot" / "smoke_detection_iot_T_RH_eCO2.csv"
HOLD_OUT = (49988, 62630)


def detection_windows(window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(windows (N, window, 3) float32, signal (N, 2), labels (N,), source) at stride 1."""
    from app.ml.features import series_windows

    if SMOKE_CSV.exists():
        a, b = HOLD_OUT
        raw = np.genfromtxt(
            SMOKE_CSV, delimiter=",", skip_header=1 + a, max_rows=b - a, usecols=(3, 1, 2, 4)
        )
        series, labels, source = raw[:, :3], raw[:, 3], f"smoke_iot rows {a}-{b - 1}"
    else:
        from app.sim import segment

        segs = [segment(900, seed=s, leak=s % 2 == 1) for s in range(12)]
        series = np.concatenate([s.series for s in segs])
        labels = np.concatenate([s.labels for s in segs]).astype(float)
        source = "simulated leaks (app.sim), shared data absent"
    w, sig, ends = series_windows(series, np.arange(len(series), dtype=float), 1, window=window)
    return w, sig, labels[ends], source


def compare(settings: Any, *, batches: list[int], threads: int) -> dict[str, Any]:
    """Speed and detection figures per variant; errors are reported, not raised."""
    import torch
    from sklearn.metrics import roc_auc_score

    from app.ml.accel import ACCELS, accelerate
    from app.ml.predictor import load_predictor

    torch.set_num_threads(threads)
    base = load_predictor(settings.artifacts_dir, device=settings.device)
    x, b, y, source = detection_windows(base.window)  # the model's (settings.window: None)
    raise_p = settings.alert_raise_probability
    ref: np.ndarray | None = None
    rows = []
    for accel, svm in [
        *((a, "sklearn") for a in ACCELS),
        ("none", "array"),
        ("torchscript", "array"),
        ("onnx", "array"),
    ]:
        name = accel if svm == "sklearn" else f"{accel}+arraySVM"
        try:
            pred = accelerate(base, accel, svm=svm, threads=threads)
        except Exception as exc:  # a variant that cannot run here is reported as such
            rows.append({"accel": name, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        speed = {f"batch_{n}": round(rate(pred, x, b, n)) for n in batches}
        p = np.concatenate(
            [
                pred.leak_probability(x[i : i + 1024], b[i : i + 1024])
                for i in range(0, len(x), 1024)
            ]
        )
        ref = p if ref is None else ref
        hit = p >= raise_p
        rows.append(
            {
                "accel": name,
                "windows_per_s": speed,
                "max_abs_diff_vs_eager": float(np.abs(p - ref).max()),
                "decisions_changed": int((hit != (ref >= raise_p)).sum()),
                "roc_auc": round(float(roc_auc_score(y, p)), 4),
                "recall_at_raise_p": round(float(hit[y == 1].mean()), 4),
                "precision_at_raise_p": round(float(y[hit].mean()), 4) if hit.any() else None,
            }
        )
    return {"source": source, "windows": len(x), "threads": threads, "variants": rows}


def print_table(r: dict[str, Any]) -> None:
    """One line per variant."""
    print(
        f"accel variants, {r['windows']} windows of {r['source']}, torch/ORT threads {r['threads']}"
    )
    for v in r["variants"]:
        if "error" in v:
            print(f"  {v['accel']:<22} not available: {v['error']}")
            continue
        speed = ", ".join(f"{k}: {w:,}/s" for k, w in v["windows_per_s"].items())
        print(
            f"  {v['accel']:<22} {speed}; max|dp| {v['max_abs_diff_vs_eager']:.2e}, "
            f"decisions changed {v['decisions_changed']}, AUC {v['roc_auc']}, "
            f"recall {v['recall_at_raise_p']}, precision {v['precision_at_raise_p']}"
        )
