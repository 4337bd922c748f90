"""Shared fixtures for the ML tests: synthetic windows and a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.training.data import default_data_dir

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
DATA_PRESENT = (default_data_dir() / "smoke_iot" / "smoke_detection_iot_T_RH_eCO2.csv").is_file()


def synthetic_windows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 60, 3) float32 windows around 400 ppm / 22 °C / 50 %RH; odd rows get a gas rise in
    their last 20 readings. Returns windows, signal (n, 2) (level 400, noise scale 4),
    labels (n,)."""
    rng = np.random.default_rng(seed)
    w = np.empty((n, 60, 3), dtype=np.float32)
    w[:, :, 0] = 400 + rng.normal(0, 3, (n, 60))
    w[:, :, 1] = 22 + rng.normal(0, 0.2, (n, 60))
    w[:, :, 2] = 50 + rng.normal(0, 1, (n, 60))
    labels = np.arange(n) % 2
    rise = np.linspace(0, 1, 20) * rng.uniform(200, 2000, (n, 1))
    w[labels == 1, -20:, 0] += rise[labels == 1]
    return w, np.tile([400.0, 4.0], (n, 1)), labels


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Artifacts of a 1-epoch model trained on synthetic windows (seconds on a CPU)."""
    torch = pytest.importorskip("torch")
    from app.ml.model import ModelConfig
    from app.training.dataset import WindowSet
    from app.training.model_card import build_manifest
    from app.training.train import save_artifacts, train_on_sets

    sets = []
    for seed, n in ((0, 240), (1, 80)):
        w, b, y = synthetic_windows(n, seed)
        sets.append(WindowSet(w, b, y, np.zeros(n, dtype=int)))
    cfg = ModelConfig(epochs=1)
    res = train_on_sets(*sets, cfg=cfg, dev=torch.device("cpu"), seed=0, progress=False)
    out = tmp_path_factory.mktemp("artifacts")
    save_artifacts(res, cfg, build_manifest(res, *sets, cfg, {}, "cpu", 0.0), out)
    return out
