"""Save -> load round trips, the shipped artifacts, and artifact errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.ml.artifacts import ArtifactError
from app.ml.features import CHANNELS
from app.ml.predictor import load_predictor

from .conftest import ARTIFACTS, synthetic_windows

pytest.importorskip("torch")


@pytest.mark.slow
def test_roundtrip_identical_scores(tiny_artifacts: Path) -> None:
    from app.ml.features import preprocess, window_features
    from app.ml.model import ModelConfig
    from app.training.train import train_on_sets  # noqa: F401  (import check)

    w, b, _ = synthetic_windows(16, 5)
    w0 = w.copy()
    lstm = load_predictor(tiny_artifacts, device="cpu")
    pure = load_predictor(tiny_artifacts, use_torch=False)
    assert (lstm.model_type, lstm.device) == ("PyTorch LSTM+SVM", "cpu")
    assert pure.model_type == "Pure SVM"
    for pred in (lstm, pure):
        p = pred.leak_probability(w, b)
        assert p.shape == (16,) and p.dtype == np.float64 and ((p >= 0) & (p <= 1)).all()
        again = load_predictor(tiny_artifacts, device="cpu", use_torch=pred is lstm)
        np.testing.assert_array_equal(again.leak_probability(w, b), p)
    np.testing.assert_array_equal(w, w0)
    assert ModelConfig() and preprocess and window_features


def test_shipped_artifacts_load_and_score() -> None:
    w, b, _ = synthetic_windows(8, 2)
    m = json.loads((ARTIFACTS / "manifest.json").read_text())
    assert m["window"] == 60 and m["thresholds"]["raise"] == 0.7
    for use_torch in (True, False):
        p = load_predictor(ARTIFACTS, device="cpu", use_torch=use_torch).leak_probability(w, b)
        assert p.shape == (8,) and ((p >= 0) & (p <= 1)).all()
        assert p[1::2].mean() > p[0::2].mean()  # gas rises score higher than flat air


def _copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ARTIFACTS, tmp_path / "a"))


@pytest.mark.parametrize("name", ["lstm.pth", "svm_lstm.skops", "manifest.json"])
def test_corrupt_or_missing_file_names_it(tmp_path: Path, name: str) -> None:
    d = _copy(tmp_path)
    (d / name).write_bytes(b"not a model")
    with pytest.raises(ArtifactError, match=name):
        load_predictor(d, device="cpu")
    (d / name).unlink()
    with pytest.raises(ArtifactError, match=f"{name}: file not found"):
        load_predictor(d, device="cpu")


def test_missing_pure_svm_names_it(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "svm_pure.skops").unlink()
    with pytest.raises(ArtifactError, match="svm_pure.skops"):
        load_predictor(d, use_torch=False)


def test_manifest_mismatch(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    m = json.loads((d / "manifest.json").read_text())
    m["channels"] = ["gas_log_ratio", "temperature", "humidity"]  # a model of an older version
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ArtifactError, match="manifest.json: channels .* retrain"):
        load_predictor(d, device="cpu")
    m["channels"], m["window"] = list(CHANNELS), 30
    (d / "manifest.json").write_text(json.dumps(m))
    assert load_predictor(d, use_torch=False).window == 30  # the manifest fixes the window


def test_a_window_setting_that_disagrees_with_the_model_is_refused() -> None:
    from app.config import Settings
    from app.state import ModelMismatch, model_window

    p = load_predictor(ARTIFACTS, use_torch=False)
    with pytest.raises(ModelMismatch, match="GASLEAK_WINDOW=30 .* windows of 60 readings"):
        model_window(Settings(window=30), p)
    assert model_window(Settings(window=60), p) == model_window(Settings(), p) == 60
    assert model_window(Settings(window=30, model_enabled=False), p) == 30


def test_pure_svm_without_torch() -> None:
    # torch is blocked with an import hook, not ``sys.modules["torch"] = None``: with the
    # latter, scipy's array-API helper (used inside sklearn) does getattr(None, "Tensor") and
    # crashes, which a machine without torch never does.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch blocked for this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np\n"
        "from app.ml.predictor import load_predictor, torch_available\n"
        f"p = load_predictor({str(ARTIFACTS)!r})\n"
        "x = np.full((2, 60, 3), [400.0, 22.0, 50.0], dtype=np.float32)\n"
        "pr = p.leak_probability(x, np.tile([400.0, 4.0], (2, 1)))\n"
        "assert 'torch' not in sys.modules\n"
        "print(p.model_type, torch_available(), pr.shape)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Pure SVM False (2,)"
