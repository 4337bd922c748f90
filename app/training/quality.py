"""Detection-quality figures (torch-free, pure functions).

Window level: precision, recall, F1 at a probability threshold, and ROC-AUC (threshold-free).
Event level, after the service's own alert policy (``app.alerting.leak.AlertPolicy``):
event recall, detection delay (median and p90, readings and seconds), false alarms per
1,000 device-hours.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from app.alerting.leak import AlertPolicy, PolicyConfig


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


def window_scores(y: np.ndarray, p: np.ndarray, thr: float) -> dict[str, float | int | None]:
    """Window precision/recall/F1 of ``p >= thr`` and ROC-AUC of ``p`` against labels ``y``.

    Args:
        y: (N,) 0/1 labels. p: (N,) scores in [0, 1]. thr: decision threshold.

    Returns:
        dict with window_precision, window_recall, window_f1 (0 when undefined), roc_auc
        (None when y holds one class only), n_windows, n_positive, tp, fp, fn, tn.
    """
    y = np.asarray(y).astype(int)
    yh = (np.asarray(p) >= thr).astype(int)
    tp, fp = int(((yh == 1) & (y == 1)).sum()), int(((yh == 1) & (y == 0)).sum())
    fn, tn = int(((yh == 0) & (y == 1)).sum()), int(((yh == 0) & (y == 0)).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    return {
        "window_precision": round(prec, 4),
        "window_recall": round(rec, 4),
        "window_f1": round(f1, 4),
        "roc_auc": None if auc is None else round(auc, 4),
        "n_windows": int(len(y)),
        "n_positive": int(y.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def policy_alerts(
    probs: np.ndarray, ends: np.ndarray, config: PolicyConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run the service's alert policy over one device's window scores.

    Args:
        probs: (N,) window probabilities in time order. ends: (N,) row of each window's last
        reading. config: the policy (default: the service's 0.7 x 3 raise, 0.3 x 10 clear).

    Returns:
        raised (k,) int64 rows of the windows whose score raised an alert (``alert.raised``);
        active (N,) bool, whether an alert is active after each window.
    """
    pol = AlertPolicy(config or PolicyConfig(), model_type="evaluation")
    raised, active = [], np.zeros(len(probs), dtype=bool)
    for i, (p, e) in enumerate(zip(np.asarray(probs, float).tolist(), ends, strict=True)):
        ev = pol.update("d", p, float(e))
        if ev is not None and ev.type == "alert.raised":
            raised.append(int(e))
        active[i] = pol.open_alert("d") is not None
    return np.asarray(raised, dtype=np.int64), active


def alert_rows(
    probs: np.ndarray, ends: np.ndarray, config: PolicyConfig | None = None
) -> np.ndarray:
    """Rows at which the policy raises an alert (see :func:`policy_alerts`)."""
    return policy_alerts(probs, ends, config)[0]


def match_events(
    onsets: Sequence[int], ends: Sequence[int], raised: np.ndarray, grace: int
) -> np.ndarray:
    """Detection delay of each event, in readings, or -1 when missed.

    An event [onset, end) counts as detected by the first alert raised at a row in
    [onset, end + grace) (``grace`` covers the sensor lag and the window still holding the
    event). Delay = that row - onset.

    Returns:
        (n_events,) int64.
    """
    raised = np.sort(np.asarray(raised, dtype=np.int64))
    out = np.full(len(onsets), -1, dtype=np.int64)
    for i, (a, b) in enumerate(zip(onsets, ends, strict=True)):
        hit = raised[(raised >= a) & (raised < b + grace)]
        if len(hit):
            out[i] = int(hit[0]) - int(a)
    return out


def delay_stats(delays: np.ndarray, dt_s: float) -> dict[str, float | None]:
    """Median and p90 of detected events' delays (readings >= 0; -1 = missed, ignored), in
    readings and seconds (x ``dt_s``). None when nothing was detected."""
    d = np.asarray(delays, dtype=np.float64)
    d = d[d >= 0]
    if len(d) == 0:
        return {
            "delay_median_readings": None,
            "delay_p90_readings": None,
            "delay_median_s": None,
            "delay_p90_s": None,
        }
    med, p90 = float(np.median(d)), float(np.percentile(d, 90))
    return {
        "delay_median_readings": med,
        "delay_p90_readings": p90,
        "delay_median_s": med * dt_s,
        "delay_p90_s": p90 * dt_s,
    }


def false_alarms_per_1000h(n_alarms: int, device_hours: float) -> float | None:
    """Alarms per 1,000 device-hours; None when no hours were observed."""
    if device_hours <= 0:
        return None
    return round(1000.0 * n_alarms / device_hours, 3)


def recall_by_band(
    detected: np.ndarray, k_sigma: np.ndarray, edges: Sequence[float]
) -> dict[str, dict[str, float | int | None]]:
    """Event recall per amplitude band (amplitude in background standard deviations).

    Args:
        detected: (n,) bool. k_sigma: (n,) amplitudes. edges: increasing band edges; bands
        are [e_i, e_{i+1}) plus [last, inf).

    Returns:
        {"<lo>-<hi> sd": {"events": n, "recall": r or None}}.
    """
    det, k = np.asarray(detected, bool), np.asarray(k_sigma, float)
    bounds = [*edges, np.inf]
    out: dict[str, dict[str, float | int | None]] = {}
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        m = (k >= lo) & (k < hi)
        name = f">={lo:g} sd" if hi == np.inf else f"{lo:g}-{hi:g} sd"
        out[name] = {
            "events": int(m.sum()),
            "recall": round(float(det[m].mean()), 4) if m.any() else None,
        }
    return out
