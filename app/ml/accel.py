"""Inference variants of the LSTM encoder, chosen by ``Settings.accel``.

Only the encoder changes; preprocessing and the SVM stay those of the wrapped predictor, so
each variant answers the same ``leak_probability(windows (B, 60, 3), signal (B,)) -> (B,)``.

- ``none``: the eager PyTorch module.
- ``int8``: dynamic int8 quantisation of the LSTM and Linear layers
  (``torch.ao.quantization.quantize_dynamic``), CPU only.
- ``torchscript``: ``torch.jit.trace`` + ``torch.jit.optimize_for_inference``.
- ``onnx``: exported with ``torch.onnx.export`` (TorchScript-based exporter, opset 17) and run
  by ONNX Runtime (``onnxruntime``, ``onnx`` needed; CPU or CUDA provider).

Independently, ``svm="array"`` evaluates the SVM with batched tensor operations
(:mod:`app.ml.svm_array`, same probabilities to ~1e-11) instead of libsvm one window at a time.

Whether one is faster is measured by ``python -m bench --accel-compare`` (README,
Performance); the probabilities each gives are compared with the eager model there too.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from app.ml.features import CHANNELS, WINDOW, preprocess, window_features
from app.ml.predictor import LSTMSVMPredictor, Predictor, _positive_proba
from app.ml.svm_array import ArraySVM

ACCELS = ("none", "int8", "torchscript", "onnx")


class AcceleratedPredictor:
    """An :class:`LSTMSVMPredictor` whose encoder forward is ``encode``.

    Args:
        base: the loaded LSTM+SVM predictor (its SVM pipeline and normalisation are used).
        encode: (B, 60, 3) float32 preprocessed windows -> (B, 8) features.
        accel: the variant's name, reported in ``summary``.
    """

    def __init__(
        self,
        base: LSTMSVMPredictor,
        encode: Callable[[np.ndarray], np.ndarray],
        accel: str,
        svm: str = "sklearn",
    ) -> None:
        self.model_type = base.model_type
        self.device = base.device
        self.pipeline = base.pipeline
        self.window = base.window
        self.signal_cfg = base.signal_cfg
        self.norm = base.norm
        self.accel = accel
        self.summary = {**getattr(base, "summary", {}), "accel": accel, "svm": svm}
        self._encode = encode
        self.svm_features = getattr(base, "svm_features", "code")
        self._leak_head = getattr(base.encoder, "leak_head", None)
        self._torch_device = base.device
        self._svm = ArraySVM(base.pipeline, base.device) if svm == "array" else None
        self._lock = threading.Lock()

    def features(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        """(B, 60, 3) physical -> the SVM's input, as ``LSTMSVMPredictor.features``: the
        code, or code / leak-head logit followed by ``window_features``."""
        x = preprocess(windows, signal, self.norm)
        with self._lock:
            code = np.asarray(self._encode(x))
            head = self._leak_head
            if self.svm_features.startswith("logit") and head is not None:
                import torch

                with torch.inference_mode():
                    t = torch.from_numpy(code.astype(np.float32)).to(self._torch_device)
                    code = head(t).cpu().numpy()
        code = code.astype(np.float64)
        if self.svm_features != "code":
            return np.concatenate([code, window_features(x)], axis=1)
        return code

    def leak_probability(self, windows: np.ndarray, signal: np.ndarray) -> np.ndarray:
        """(B,) float64 leak probabilities."""
        feats = self.features(windows, signal)
        if self._svm is not None:
            return np.clip(self._svm.predict_proba(feats), 0.0, 1.0) if len(feats) else feats[:, 0]
        return _positive_proba(self.pipeline, feats)


def accelerate(
    predictor: Predictor, accel: str = "none", *, svm: str = "sklearn", threads: int = 1
) -> Predictor:
    """``predictor`` with the ``accel`` encoder variant and the ``svm`` backend
    ("none" and "sklearn": the predictor itself, unchanged).

    Args:
        predictor: a loaded predictor.
        accel: one of :data:`ACCELS`.
        svm: "sklearn" (libsvm) or "array" (:class:`app.ml.svm_array.ArraySVM`).
        threads: intra-op threads for ONNX Runtime (torch variants use torch's setting).

    Raises:
        ValueError: unknown ``accel``, one that needs the LSTM predictor, or int8 on CUDA.
        ImportError: ``onnx`` without onnxruntime/onnx installed.
    """
    if accel not in ACCELS:
        raise ValueError(f"unknown accel {accel!r}: use one of {', '.join(ACCELS)}")
    if svm not in ("sklearn", "array"):
        raise ValueError(f"unknown svm backend {svm!r}: use sklearn or array")
    if accel == "none" and svm == "sklearn":
        return predictor
    if not isinstance(predictor, LSTMSVMPredictor):
        if accel == "none":
            return predictor  # the pure SVM has no encoder; its features are not LSTM codes
        raise ValueError(f"accel={accel!r} needs the PyTorch LSTM+SVM predictor")
    build = {"none": _eager, "int8": _int8, "torchscript": _torchscript, "onnx": _onnx}[accel]
    encode = build(predictor.encoder, predictor.device, threads)
    return AcceleratedPredictor(predictor, encode, accel, svm)


def _eager(encoder: Any, device: str, _: int) -> Callable[[np.ndarray], np.ndarray]:
    return _torch_runner(encoder, device)


def _torch_runner(module: Any, device: str) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(module(torch.from_numpy(x).to(device)).cpu().numpy())

    return run


def _int8(encoder: Any, device: str, _: int) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    if device != "cpu":
        raise ValueError("int8 dynamic quantisation runs on CPU only")
    q = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
        encoder, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8
    )
    return _torch_runner(q.eval(), device)


def _example(device: str) -> Any:
    import torch

    return torch.zeros(8, WINDOW, len(CHANNELS), device=device)


def _torchscript(encoder: Any, device: str, _: int) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(  # type: ignore[no-untyped-call]
            encoder.eval(), (_example(device),)
        )
    return _torch_runner(torch.jit.optimize_for_inference(traced), device)


def _onnx(encoder: Any, device: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort
    import torch

    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            encoder.eval(),
            (_example(device),),
            buf,  # type: ignore[arg-type]
            input_names=["x"],
            output_names=["code"],
            dynamic_axes={"x": {0: "b"}, "code": {0: "b"}},
            opset_version=17,
            dynamo=False,
        )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    providers = (["CUDAExecutionProvider"] if device.startswith("cuda") else []) + [
        "CPUExecutionProvider"
    ]
    session = ort.InferenceSession(buf.getvalue(), opts, providers=providers)

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"x": x})[0])

    return run
