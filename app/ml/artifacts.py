"""Save and load the shipped model: ``lstm.pth``, ``svm_lstm.skops``, ``svm_pure.skops``,
``manifest.json`` (and ``MODEL_CARD.md``, written by training).

No raw pickle: torch weights load with ``weights_only=True``; the sklearn pipelines are skops
files whose types are checked against ``ALLOWED_SKOPS_TYPES`` before loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from app.ml.features import CHANNELS, FEATURES, NORM_KEYS

LSTM_FILE = "lstm.pth"
SVM_LSTM_FILE = "svm_lstm.skops"
SVM_PURE_FILE = "svm_pure.skops"
MANIFEST_FILE = "manifest.json"
MODEL_CARD_FILE = "MODEL_CARD.md"

#: Types a shipped skops file may contain (anything else -> ArtifactError, never loaded).
ALLOWED_SKOPS_TYPES = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.svm._classes.SVC",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.int32",
        "numpy.int64",
        "builtins.slice",
    }
)


class ArtifactError(Exception):
    """A model artifact is missing, corrupt or does not match this code."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def save_svm(pipe: Pipeline, path: Path) -> None:
    """Write a fitted sklearn Pipeline with skops."""
    import skops.io as sio

    sio.dump(pipe, path)


def load_svm(path: Path) -> Pipeline:
    """Load a Pipeline written by ``save_svm``. Raises ArtifactError (missing, corrupt, or a
    type outside ALLOWED_SKOPS_TYPES)."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "file not found")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises several types for a bad zip/schema
        raise ArtifactError(path, f"not a readable skops file ({exc})") from exc
    bad = sorted(set(untrusted) - ALLOWED_SKOPS_TYPES)
    if bad:
        raise ArtifactError(path, f"untrusted types in skops file: {bad}")
    try:
        pipe = sio.load(path, trusted=untrusted)
    except Exception as exc:
        raise ArtifactError(path, f"cannot load skops file ({exc})") from exc
    if not isinstance(pipe, Pipeline) or not hasattr(pipe, "predict_proba"):
        raise ArtifactError(path, "not a fitted sklearn Pipeline with predict_proba")
    return pipe


def save_lstm(config: dict[str, Any], state_dict: dict[str, Any], path: Path) -> None:
    """Write ``{"config": ..., "state_dict": ...}`` with torch.save."""
    import torch

    torch.save({"config": config, "state_dict": state_dict}, path)


def load_lstm_payload(path: Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Read ``lstm.pth`` with ``weights_only=True``. Raises ArtifactError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(path, "file not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ArtifactError(path, f"cannot load torch weights ({exc})") from exc
    if not isinstance(payload, dict) or not {"config", "state_dict"} <= payload.keys():
        raise ArtifactError(path, "expected a dict with 'config' and 'state_dict'")
    return payload


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Write the manifest as indented JSON."""
    Path(path).write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def load_manifest(artifacts_dir: Path) -> dict[str, Any]:
    """Read and check ``manifest.json`` (window, features, channels, signal, normalisation).

    Raises:
        ArtifactError: missing, not JSON, or not matching this code's FEATURES/CHANNELS.
    """
    path = Path(artifacts_dir) / MANIFEST_FILE
    if not path.is_file():
        raise ArtifactError(path, "file not found")
    try:
        m = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(m, dict):
        raise ArtifactError(path, "manifest is not a JSON object")
    if not isinstance(m.get("window"), int) or m["window"] < 3:
        raise ArtifactError(path, f"window {m.get('window')!r} is not a whole number >= 3")
    if tuple(m.get("features", ())) != FEATURES:
        raise ArtifactError(path, f"features {m.get('features')!r} != {list(FEATURES)}")
    if tuple(m.get("channels", ())) != CHANNELS:
        raise ArtifactError(
            path,
            f"channels {m.get('channels')!r} != {list(CHANNELS)} "
            "(a model from an older version: retrain with --mode train)",
        )
    if not isinstance(m.get("signal"), dict):
        raise ArtifactError(path, "no 'signal' section (the signal model's parameters)")
    norm = m.get("normalisation", {})
    if not all(isinstance(norm.get(k), int | float) for k in NORM_KEYS):
        raise ArtifactError(path, f"normalisation must hold numbers for {list(NORM_KEYS)}")
    return m
