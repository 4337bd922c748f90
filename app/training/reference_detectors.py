"""Detectors compared by the evaluation, behind one interface.

A detector scores every full window of a batch: ``score(windows (N, 60, 3) float32 physical,
signal (N,)) -> (N,) float64`` in [0, 1]; the service's alert policy then turns the scores
into alerts (``app.training.quality.alert_rows``), the same for every detector.

- ``lstm_svm`` / ``svm``: the shipped predictors (``app.ml.predictor``).
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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import IsolationForest

from app.ml.features import preprocess, window_features

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Detector:
    """A named scoring function and a one-line description for the report."""

    name: str
    score: Score
    description: str


def threshold_detector(name: str, set_point: float, unit: str) -> Detector:
    """Fixed set-point alarm on the last gas reading of each window."""

    def score(w: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.asarray(w)[:, -1, 0] >= set_point).astype(np.float64)

    return Detector(name, score, f"gas >= {set_point:g} {unit} (fixed set point)")


class IsoForestScorer:
    """IsolationForest on window features, mapped to [0, 1] (see module docstring)."""

    def __init__(self, norm: Mapping[str, float], seed: int = 0) -> None:
        self.norm = dict(norm)
        self.seed = seed

    def fit(self, windows: np.ndarray, signal: np.ndarray) -> IsoForestScorer:
        """Fit on leak-free training windows (N, 60, 3) physical and signal (N,)."""
        f = window_features(preprocess(windows, signal, self.norm))
        self.forest_ = IsolationForest(n_estimators=200, random_state=self.seed).fit(f)
        s = -self.forest_.score_samples(f)
        self.q_ = float(np.percentile(s, 99.0))
        self.scale_ = max((float(np.percentile(s, 99.9)) - self.q_) / np.log(0.7 / 0.3), 1e-6)
        return self

    def __call__(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        if len(windows) == 0:
            return np.empty(0)
        s = -self.forest_.score_samples(window_features(preprocess(windows, signal,
                                                                   self.norm)))  # fmt: skip
        return 1.0 / (1.0 + np.exp(-(s - self.q_) / self.scale_))
