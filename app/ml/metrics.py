"""Classification figures for window scores (torch-free)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score


def metrics(y: np.ndarray, p: np.ndarray, thr: float = 0.5) -> dict[str, float]:
    """Accuracy / precision / recall / F1 of ``p >= thr`` against 0/1 labels ``y``."""
    yh = (p >= thr).astype(int)
    return {
        "threshold": thr,
        "n": int(len(y)),
        "positives": int(y.sum()),
        "accuracy": round(float(accuracy_score(y, yh)), 4),
        "precision": round(float(precision_score(y, yh, zero_division=0)), 4),
        "recall": round(float(recall_score(y, yh, zero_division=0)), 4),
        "f1": round(float(f1_score(y, yh, zero_division=0)), 4),
    }
