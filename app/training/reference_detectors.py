"""Detectors compared by the evaluation, behind one interface.

Window detectors score every full window of a batch: ``score(windows (N, 60, 3) float32
physical, signal (N, 2) level and noise scale) -> (p (N,) float64 in [0, 1], elevated (N,)
bool)``; ``elevated`` keeps an open alert from clearing (the service's evidence gate). The
evaluation replays each device as the service does (``app.training.online_replay``): the
device's signal model learns every reading, is held while an alert is open, and the service's
alert policy turns the scores into alerts, the same for every detector.

- ``lstm_svm`` / ``svm``: the shipped predictors behind the evidence gate
  (``app.ml.predictor.leak_scores``).
- ``threshold``: the classic fixed set-point alarm of commercial detectors: 1.0 when the
  window's last gas reading is at or above the set point, else 0.0. Default set point 5,000 ppm
  (10 % LEL methane, the low alarm of ``app.services.safety``).
- ``threshold_fitted``: the same alarm with its set point fitted on training data only: the
  highest gas reading of the training-part background x 1.1 (an installer's "just above normal").
- ``isolation_forest``: scikit-learn IsolationForest on ``features.window_features`` of
  training-part leak-free windows (unsupervised); its anomaly score s is mapped to
  ``sigmoid((s - q99) / scale)`` with q99, q999 the 99th and 99.9th percentiles of the
  training scores and scale = (q999 - q99) / logit(0.7): 0.5 at q99 and 0.7 (the policy's
  raise probability) exactly at q999, i.e. "more anomalous than 99.9 % of normal windows".
- ``stat_baseline``: :class:`RobustZ`, a per-reading robust z-score (no model, numpy only).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import IsolationForest

from app.ml.features import preprocess, trailing, window_features
from app.ml.predictor import leak_scores

Score = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: MAD -> standard deviation for Gaussian data (Rousseeuw & Croux 1993).
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Detector:
    """A named window-scoring function and a one-line description for the report.

    ``trailing``: ``(windows, signal) -> (N,) bool``, the high windows held up only by the
    running median of three (:func:`app.ml.features.trailing`), which the alert policy keeps
    in a run without lengthening its span, as the service does for its gated model; None
    for a detector that judges the last reading itself."""

    name: str
    score: Score
    description: str
    trailing: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None


def ungated(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Score:
    """Wrap a plain ``(windows, signal) -> p`` scorer: ``elevated`` is always False."""

    def score(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(fn(w, b), dtype=np.float64)
        return p, np.zeros(len(p), dtype=bool)

    return score


def gated_model(predictor: Any) -> Score:
    """The service's leak score, :func:`app.ml.predictor.leak_scores` (the model's
    probability where the evidence gate is open, else 0; the model runs on gated windows
    only)."""

    def score(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return leak_scores(predictor, w, b)

    return score


def gated_detector(name: str, predictor: Any, description: str) -> Detector:
    """The service's detector: :func:`gated_model` with the gate's ``trailing`` windows."""
    cfg = predictor.signal_cfg

    def edge(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return trailing(w, b, cfg)

    return Detector(name, gated_model(predictor), description, edge)


def threshold_detector(name: str, set_point: float, unit: str) -> Detector:
    """Fixed set-point alarm on the last gas reading of each window (elevated while above)."""

    def score(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hit = np.asarray(w)[:, -1, 0] >= set_point
        return hit.astype(np.float64), hit

    return Detector(name, score, f"gas >= {set_point:g} {unit} (fixed set point)")


class IsoForestScorer:
    """IsolationForest on window features, mapped to [0, 1] (see module docstring)."""

    def __init__(self, norm: Mapping[str, float], seed: int = 0) -> None:
        self.norm = dict(norm)
        self.seed = seed

    def fit(self, windows: np.ndarray, signal: np.ndarray) -> IsoForestScorer:
        """Fit on leak-free training windows (N, 60, 3) physical and signal (N, 2)."""
        f = window_features(preprocess(windows, signal, self.norm))
        self.forest_ = IsolationForest(n_estimators=200, random_state=self.seed).fit(f)
        s = -self.forest_.score_samples(f)
        self.q_ = float(np.percentile(s, 99.0))
        self.scale_ = max((float(np.percentile(s, 99.9)) - self.q_) / np.log(0.7 / 0.3), 1e-6)
        return self

    def __call__(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        """(N,) float64 in [0, 1]."""
        if len(windows) == 0:
            return np.empty(0)
        s = -self.forest_.score_samples(window_features(preprocess(windows, signal, self.norm)))
        return np.asarray(1.0 / (1.0 + np.exp(-(s - self.q_) / self.scale_)), dtype=np.float64)


@dataclass(frozen=True)
class RobustZConfig:
    """Parameters of :class:`RobustZ`.

    ``history``: readings in the rolling median and MAD (300: 5 min at 1 Hz, 12.5 days hourly).
    ``warmup``: readings before the first score (120: the baseline's median and MAD need a
    few minutes of clean air; two of the service model's 60-reading windows). ``z_on``: the
    robust z-score that counts as raised (6: a 6-sd excursion has probability ~1e-9 for
    Gaussian noise, so sensor noise alone never raises it). ``rel_floor`` / ``abs_floor``:
    the noise scale is at least this fraction of the median / this value (the same 1 % sensor
    resolution floor as ``app.ml.signal.SignalConfig``: smoke_iot's SGP30 sits exactly at
    400 ppm for thousands of readings, MAD 0).
    """

    history: int = 300
    warmup: int = 120
    z_on: float = 6.0
    rel_floor: float = 0.01
    abs_floor: float = 1e-3


class RobustZ:
    """Statistical baseline detector of one device (river style, numpy only).

    The baseline is the median of the last ``history`` readings and the noise scale
    ``1.4826 * MAD`` of them (floored); each reading's robust z-score is taken against the
    baseline *before* it is learned. While :meth:`hold` is on (an alert is open) nothing is
    learned: the baseline is frozen during an episode. The alert policy raises when the
    z-score is at least ``z_on`` for ``raise_n`` (3) readings (:meth:`probability`).
    Learned state: ``buf_`` (recent readings), ``held_``.
    """

    def __init__(self, cfg: RobustZConfig | None = None) -> None:
        self.cfg = cfg or RobustZConfig()
        self.buf_: deque[float] = deque(maxlen=self.cfg.history)
        self.held_ = False

    def hold(self, on: bool) -> None:
        """Freeze (True) or release the baseline."""
        self.held_ = on

    def score_one(self, gas: float) -> float:
        """Robust z-score of ``gas`` against the current baseline; NaN while warming up."""
        if len(self.buf_) < self.cfg.warmup:
            return math.nan
        b = np.fromiter(self.buf_, dtype=np.float64, count=len(self.buf_))
        med = float(np.median(b))
        mad = float(np.median(np.abs(b - med)))
        scale = max(MAD_TO_SD * mad, self.cfg.rel_floor * abs(med), self.cfg.abs_floor)
        return (gas - med) / scale

    def learn_one(self, gas: float, ts: float = 0.0) -> tuple[float]:
        """Score one reading (gas units), then learn it unless held. ``ts`` is unused (the
        history is counted in readings). Returns (z,) (NaN while warming up)."""
        z = self.score_one(gas)
        if not self.held_:
            self.buf_.append(float(gas))
        return (z,)

    def probability(self, z: np.ndarray, raise_p: float = 0.7) -> np.ndarray:
        """Map z-scores (N,) to policy scores (N,) float64: ``sigmoid(z - z_on + logit(raise_p))``,
        so the score reaches the policy's ``raise_p`` exactly at ``z = z_on`` (and its 0.3
        clear level 1.7 below); NaN (warming up) gives 0."""
        z = np.nan_to_num(np.asarray(z, dtype=np.float64), nan=-np.inf)
        return 1.0 / (1.0 + np.exp(-(z - self.cfg.z_on + math.log(raise_p / (1 - raise_p)))))
