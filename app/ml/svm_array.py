"""The shipped SVM (StandardScaler + binary RBF ``SVC(probability=True)``) as array operations.

scikit-learn scores one window at a time inside libsvm (about 0.2 ms per window for the
shipped 2,701 support vectors on one core, more than the LSTM). Here the same function is a
few batched tensor operations on the encoder's device (CPU or CUDA), float64:

    z = (x - mean) / scale                                  StandardScaler
    K = exp(-gamma * ||z - sv||^2)                          (B, n_sv)
    f = K @ dual_coef + intercept                           sklearn's decision_function
    r = sigmoid(-(-f * probA + probB))                      libsvm's Platt pair probability
    p = libsvm's pairwise coupling (multiclass_probability) for two classes, same iteration

so the probabilities equal ``pipeline.predict_proba(x)[:, 1]`` to float rounding (checked in
tests/bench/test_accel.py). Source of the last two steps: libsvm ``svm.cpp``
(``sigmoid_predict``, ``multiclass_probability``, ``svm_predict_probability``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

MIN_PROB = 1e-7  # libsvm clips pair probabilities to [MIN_PROB, 1 - MIN_PROB]


class ArraySVM:
    """Leak probability from encoder features, without libsvm.

    Args:
        pipeline: fitted ``Pipeline([StandardScaler, SVC(kernel="rbf", probability=True)])``
            with classes [0, 1].
        device: torch device of the computation ("cpu", "cuda:0").

    Raises:
        ValueError: the pipeline is not of that form.
    """

    def __init__(self, pipeline: Any, device: str = "cpu") -> None:
        import torch

        scaler, svc = pipeline.steps[0][1], pipeline.steps[-1][1]
        if (
            len(pipeline.steps) != 2
            or svc.kernel != "rbf"
            or not svc.probability
            or list(svc.classes_) != [0, 1]
            or not hasattr(scaler, "scale_")
        ):
            raise ValueError("ArraySVM needs StandardScaler + binary RBF SVC(probability=True)")

        def t(a: Any) -> Any:
            return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)

        self._torch = torch
        self.device = device
        self.mean = t(scaler.mean_ if scaler.with_mean else np.zeros(svc.shape_fit_[1]))
        self.scale = t(scaler.scale_ if scaler.with_std else np.ones(svc.shape_fit_[1]))
        self.sv = t(svc.support_vectors_)
        self.sv_sq = (self.sv**2).sum(1)
        self._np = {  # the same parameters as numpy arrays, for the CPU path
            k: np.asarray(getattr(self, k).cpu().numpy(), dtype=np.float64)
            for k in ("mean", "scale", "sv", "sv_sq")
        } | {"dual": np.asarray(svc.dual_coef_[0], dtype=np.float64)}
        self.dual = t(svc.dual_coef_[0])
        self.intercept = float(svc.intercept_[0])
        self.gamma = float(svc._gamma)
        with warnings.catch_warnings():  # deprecated in sklearn 1.9; pyproject caps < 1.11
            warnings.simplefilter("ignore", FutureWarning)
            self.prob_a, self.prob_b = float(svc.probA_[0]), float(svc.probB_[0])

    def predict_proba(self, feats: Any) -> np.ndarray:
        """(B, d) features (numpy or tensor) -> (B,) float64 probability of class 1.

        On the CPU the same operations run in numpy: a handful of calls that keep the GIL,
        where each of torch's (some 60 for the coupling loop) releases and retakes it, and
        the inference thread waits for the event loop's thread at every retake."""
        if self.device == "cpu":
            return self._predict_numpy(np.asarray(feats, dtype=np.float64))
        torch = self._torch
        with torch.inference_mode():
            x = torch.as_tensor(feats, device=self.device).to(torch.float64)
            z = (x - self.mean) / self.scale
            d2 = (z**2).sum(1, keepdim=True) + self.sv_sq - 2.0 * (z @ self.sv.T)
            f = torch.exp(-self.gamma * d2.clamp_min(0.0)) @ self.dual + self.intercept
            r = torch.sigmoid(-((-f) * self.prob_a + self.prob_b)).clamp(MIN_PROB, 1 - MIN_PROB)
            return np.asarray(_couple_two(r).cpu().numpy(), dtype=np.float64)

    def _predict_numpy(self, x: np.ndarray) -> np.ndarray:
        np_ = self._np
        z = (x - np_["mean"]) / np_["scale"]
        d2 = (z**2).sum(1, keepdims=True) + np_["sv_sq"] - 2.0 * (z @ np_["sv"].T)
        f = np.exp(-self.gamma * np.maximum(d2, 0.0)) @ np_["dual"] + self.intercept
        r = 1.0 / (1.0 + np.exp((-f) * self.prob_a + self.prob_b))  # the sigmoid above
        return np.asarray(_couple_two(np.clip(r, MIN_PROB, 1 - MIN_PROB)), dtype=np.float64)


def _couple_two(r: Any) -> Any:
    """libsvm ``multiclass_probability`` for k = 2, vectorised: pair probability r = P(0 over 1)
    per row -> P(class 1) per row, with libsvm's stopping rule (eps 0.005 / k, 100 steps).
    ``r`` is a numpy array or a torch tensor; the result is of the same kind."""
    if isinstance(r, np.ndarray):
        xp: Any = np
    else:
        import torch as xp

    q00, q11, q01 = (1 - r) ** 2, r**2, -r * (1 - r)
    p0, p1 = xp.full_like(r, 0.5), xp.full_like(r, 0.5)
    for _ in range(100):
        qp0, qp1 = q00 * p0 + q01 * p1, q01 * p0 + q11 * p1
        pqp = p0 * qp0 + p1 * qp1
        todo = xp.maximum(abs(qp0 - pqp), abs(qp1 - pqp)) >= 0.005 / 2
        if not bool(todo.any()):
            break
        n0, n1 = p0, p1  # never changed in place: the updates below make new arrays
        for t in (0, 1):
            qp_t, q_tt = (qp0, q00) if t == 0 else (qp1, q11)
            diff = (-qp_t + pqp) / q_tt
            if t == 0:
                n0 = n0 + diff
            else:
                n1 = n1 + diff
            pqp = (pqp + diff * (diff * q_tt + 2 * qp_t)) / (1 + diff) / (1 + diff)
            q_t0, q_t1 = (q00, q01) if t == 0 else (q01, q11)
            qp0, qp1 = (qp0 + diff * q_t0) / (1 + diff), (qp1 + diff * q_t1) / (1 + diff)
            n0, n1 = n0 / (1 + diff), n1 / (1 + diff)
        p0, p1 = xp.where(todo, n0, p0), xp.where(todo, n1, p1)
    return p1
