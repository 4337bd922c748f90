"""The model's ceiling: the service's own predictor scoring prepared batches in-process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from app.ml.baseline import baseline_series
from app.sim import segment


def prepared_windows(
    n: int = 4096, window: int = 60, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated windows as the service builds them: (n, window, 3) float32 and (n,) baselines.

    Cut with stride 1 from simulated 1 Hz segments, half of them with a leak.
    """
    xs, bs = [], []
    k = 0
    while sum(len(x) for x in xs) < n:
        seg = segment(900, seed=seed + k, leak=k % 2 == 1)
        base = baseline_series(seg.series[:, 0], 1.0)
        xs.append(sliding_window_view(seg.series, window, axis=0).transpose(0, 2, 1))
        bs.append(base[window - 1 :])
        k += 1
    return (np.concatenate(xs)[:n].astype(np.float32), np.concatenate(bs)[:n].astype(np.float32))


def rate(predictor: Any, x: np.ndarray, b: np.ndarray, batch: int, min_s: float = 1.0) -> float:
    """Windows/s of ``predictor.predict_proba`` on batches of ``batch`` (after one warm-up)."""
    predictor.predict_proba(x[:batch], b[:batch])
    done, t0 = 0, time.perf_counter()
    while (el := time.perf_counter() - t0) < min_s or done == 0:
        a = (done % len(x)) if done % len(x) + batch <= len(x) else 0
        predictor.predict_proba(x[a : a + batch], b[a : a + batch])
        done += batch
    return done / el


class _Encoder:
    """``predict_proba`` = the LSTM features only, to show where the time goes."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor

    def predict_proba(self, x: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.predictor.features(x, b)


def ceiling(artifacts: Path, *, device: str, threads: list[int], batches: list[int],
            accel: str = "none", svm: str = "sklearn", min_s: float = 1.0) -> dict[str, Any]:
    """Windows/s for each (torch threads, batch size), and the best; also the encoder alone.

    Returns:
        {"table": [{"threads", "batch", "windows_per_s"}], "best": {...}, "predictor": the
        loaded predictor (for reuse; not JSON)}
    """
    import torch

    from app.ml.accel import accelerate
    from app.ml.predictor import load_predictor

    predictor = accelerate(load_predictor(artifacts, device=device), accel, svm=svm)
    x, b = prepared_windows(max(batches) * 2)
    before = torch.get_num_threads()
    table = []
    try:
        for th in threads:
            torch.set_num_threads(th)
            for batch in batches:
                row = {"threads": th, "batch": batch,
                       "windows_per_s": round(rate(predictor, x, b, batch, min_s))}
                if hasattr(predictor, "features"):  # the LSTM encoder alone, no SVM
                    row["encoder_windows_per_s"] = round(rate(_Encoder(predictor), x, b, batch,
                                                              min_s / 2))
                table.append(row)
    finally:
        torch.set_num_threads(before)
    best = max(table, key=lambda r: r["windows_per_s"])
    return {"table": table, "best": best, "predictor": predictor}
