"""Inference variants of the LSTM encoder, chosen by ``Settings.accel``.

Only the encoder changes; preprocessing and the SVM stay those of the wrapped predictor.
"""

from __future__ import annotations

from app.ml.predictor import LSTMSVMPredictor, Predictor


def accelerate(predictor: Predictor, accel: str) -> Predictor:
    """``predictor`` with its encoder replaced by the ``accel`` variant ("none": unchanged).

    Raises:
        ValueError: unknown ``accel``, or one that needs the LSTM predictor without it.
    """
    if accel == "none":
        return predictor
    if not isinstance(predictor, LSTMSVMPredictor):
        raise ValueError(f"accel={accel!r} needs the PyTorch LSTM+SVM predictor")
    raise ValueError(f"unknown accel {accel!r}")
