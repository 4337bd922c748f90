"""Leak-probability predictors built from the shipped artifacts.

``load_predictor`` returns the PyTorch LSTM+SVM predictor when torch imports, else (or when
``use_torch=False``) the pure SVM over hand-made window features. This module imports torch
only inside ``load_predictor``/``LSTMSVMPredictor``, so the pure path works without torch.

Both predictors: ``leak_probability(windows (B, 60, 3) float32 physical units, signal (B, 2)
level and noise scale) -> (B,) float64`` the model's leak probability in [0, 1];
:func:`leak_scores` adds the evidence gate the service applies. Inputs are never modified.
Calls are safe from one worker thread at a time (the LSTM forward is additionally serialised
by a lock).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from sklearn.pipeline import Pipeline

from app.ml import artifacts as A
from app.ml.features import WINDOW, evidence, preprocess, window_features
from app.ml.signal import SignalConfig

LSTM_SVM = "PyTorch LSTM+SVM"
PURE_SVM = "Pure SVM"


@runtime_checkable
class Predictor(Protocol):
    """What the scorer needs of a model: a name, where it runs, the window length and
    signal-model parameters it was trained with (from its manifest), and a score."""

    model_type: str
    device: str
    window: int
    signal_cfg: SignalConfig

    def leak_probability(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray: ...


class NoModel:
    """Stands in for the model when ``GASLEAK_MODEL_ENABLED=false``: nothing is scored (the
    ingestor does not submit windows) and only the safety rules raise alerts."""

    model_type = "none (safety rules only)"
    device = "none"
    window = WINDOW
    signal_cfg = SignalConfig()

    def leak_probability(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        raise RuntimeError("the model is disabled (GASLEAK_MODEL_ENABLED=false)")


def torch_available() -> bool:
    """True when ``import torch`` succeeds."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _positive_proba(pipe: Pipeline, feats: np.ndarray) -> np.ndarray:
    if len(feats) == 0:
        return np.empty(0, dtype=np.float64)
    col = list(pipe.classes_).index(1)
    return np.clip(np.asarray(pipe.predict_proba(feats)[:, col], dtype=np.float64), 0.0, 1.0)


class PureSVMPredictor:
    """SVM pipeline over ``window_features(preprocess(...))``; no torch."""

    model_type = PURE_SVM
    device = "cpu"

    def __init__(
        self,
        pipeline: Pipeline,
        norm: Mapping[str, float],
        signal_cfg: SignalConfig | None = None,
        window: int = WINDOW,
    ) -> None:
        self.pipeline = pipeline
        self.norm = dict(norm)
        self.signal_cfg = signal_cfg or SignalConfig()
        self.window = window

    def leak_probability(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        return _positive_proba(
            self.pipeline, window_features(preprocess(windows, signal, self.norm))
        )


class LSTMSVMPredictor:
    """LSTM encoder (8-d code, on ``device``) followed by an SVM pipeline. The SVM sees the code,
    or the code followed by ``window_features`` when the encoder's config says
    ``svm_features == "code+window"``, or the encoder's leak-head logit followed by the window
    features for "logit+window"."""

    model_type = LSTM_SVM

    def __init__(
        self,
        encoder: Any,
        pipeline: Pipeline,
        norm: Mapping[str, float],
        signal_cfg: SignalConfig | None = None,
        window: int = WINDOW,
    ) -> None:
        import torch

        self.signal_cfg = signal_cfg or SignalConfig()
        self.window = window
        self._torch = torch
        self.encoder = encoder.eval()
        self.pipeline = pipeline
        self.norm = dict(norm)
        self._device = next(encoder.parameters()).device
        self.device = str(self._device)
        self._lock = threading.Lock()
        cfg = getattr(encoder, "cfg", None)
        self.svm_features = getattr(cfg, "svm_features", "code")

    def features(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        """(B, 60, 3) physical -> (B, 8) float64 LSTM code, or (B, 8 + 15) code + window
        features; one forward for the batch."""
        x = preprocess(windows, signal, self.norm)
        with self._lock, self._torch.inference_mode():
            t = self._torch.from_numpy(x).to(self._device)
            code = self.encoder(t)
            if self.svm_features.startswith("logit"):
                code = self.encoder.leak_head(code)
            code = code.cpu().numpy().astype(np.float64)
        if self.svm_features != "code":
            return np.concatenate([code, window_features(x)], axis=1)
        return np.asarray(code, dtype=np.float64)

    def leak_probability(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        return _positive_proba(self.pipeline, self.features(windows, signal))


def leak_scores(
    predictor: Predictor, windows: np.ndarray, signal: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The service's leak score: the model's probability where the evidence gate is open
    (:func:`app.ml.features.evidence`), 0 where it is closed.

    Args:
        predictor: the model.
        windows: (B, window, 3) float32 physical units.
        signal: (B, 2) float, level and noise scale at each window's last reading.

    Returns:
        (probability (B,) float64 in [0, 1], evidence (B,) bool).

    Only the windows whose gate is open go through the model (their probability does not
    depend on the other windows of the batch): in clean air the gate is closed almost
    everywhere, so the model's cost follows the windows that could be a leak, not the
    fleet. With every gate open (a gas event at every device) the cost is the full batch.
    """
    gate = evidence(windows, signal, predictor.signal_cfg)
    p = np.zeros(len(gate), dtype=np.float64)
    open_ = np.flatnonzero(gate)
    if open_.size:
        p[open_] = predictor.leak_probability(windows[open_], signal[open_])
    return p, gate


def _load_encoder(artifacts_dir: Path, device: str) -> Any:
    from app.ml.model import GasLeakLSTM, ModelConfig, resolve_device

    dev = resolve_device(device)
    path = artifacts_dir / A.LSTM_FILE
    payload = A.load_lstm_payload(path, map_location=dev)
    try:
        enc = GasLeakLSTM(ModelConfig.from_dict(payload["config"]))
        enc.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError) as exc:
        raise A.ArtifactError(path, f"weights do not match the model ({exc})") from exc
    return enc.to(dev).eval()


def load_predictor(
    artifacts_dir: Path, *, device: str = "auto", use_torch: bool = True
) -> Predictor:
    """Load the shipped model from ``artifacts_dir``.

    Args:
        artifacts_dir: folder with manifest.json, lstm.pth, svm_lstm.skops, svm_pure.skops.
        device: "auto" (cuda:0 if available, else cpu), "cpu" or "cuda" (LSTM path only).
        use_torch: False forces the pure SVM.

    Raises:
        ArtifactError: a needed file is missing, corrupt or does not match (names the file).
        ValueError: unknown device, or "cuda" without CUDA.
    """
    artifacts_dir = Path(artifacts_dir)
    manifest = A.load_manifest(artifacts_dir)
    norm = manifest["normalisation"]
    sig = SignalConfig.from_dict(manifest["signal"])
    window = int(manifest["window"])
    if use_torch and torch_available():
        encoder = _load_encoder(artifacts_dir, device)
        return LSTMSVMPredictor(
            encoder, A.load_svm(artifacts_dir / A.SVM_LSTM_FILE), norm, sig, window
        )
    return PureSVMPredictor(A.load_svm(artifacts_dir / A.SVM_PURE_FILE), norm, sig, window)
