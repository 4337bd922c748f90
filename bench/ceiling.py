"""The model's ceiling: the service's own predictor scoring prepared batches in-process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from app.ml.features import series_windows
from app.sim import segment


def prepared_windows(
    n: int = 4096, window: int = 60, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated windows as the service builds them: (n, window, 3) float32 and (n, 2) signal.

    Cut with stride 1 from simulated 1 Hz segments, half of them with a leak.
    """
    xs, bs = [], []
    k = 0
    while sum(len(x) for x in xs) < n:
        seg = segment(900, seed=seed + k, leak=k % 2 == 1)
        w, sig, _ = series_windows(
            seg.series, np.arange(len(seg.series), dtype=float), window=window
        )
        xs.append(w)
        bs.append(sig)
        k += 1
    return np.concatenate(xs)[:n].astype(np.float32), np.concatenate(bs)[:n]


def rate(predictor: Any, x: np.ndarray, b: np.ndarray, batch: int, min_s: float = 1.0) -> float:
    """Windows/s of ``predictor.leak_probability`` on batches of ``batch`` (after one warm-up)."""
    predictor.leak_probability(x[:batch], b[:batch])
    done, t0 = 0, time.perf_counter()
    while (el := time.perf_counter() - t0) < min_s or done == 0:
        a = (done % len(x)) if done % len(x) + batch <= len(x) else 0
        predictor.leak_probability(x[a : a + batch], b[a : a + batch])
        done += batch
    return done / el


class _Encoder:
    """``leak_probability`` = the LSTM features only, to show where the time goes."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor

    def leak_probability(self, x: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.predictor.features(x, b)


def ceiling(
    artifacts: Path,
    *,
    device: str,
    threads: list[int],
    batches: list[int],
    accel: str = "none",
    svm: str = "sklearn",
    min_s: float = 1.0,
) -> dict[str, Any]:
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
                row = {
                    "threads": th,
                    "batch": batch,
                    "windows_per_s": round(rate(predictor, x, b, batch, min_s)),
                }
                if hasattr(predictor, "features"):  # the LSTM encoder alone, no SVM
                    row["encoder_windows_per_s"] = round(
                        rate(_Encoder(predictor), x, b, batch, min_s / 2)
                    )
                table.append(row)
    finally:
        torch.set_num_threads(before)
    best = max(table, key=lambda r: r["windows_per_s"])
    return {"table": table, "best": best, "predictor": predictor}
