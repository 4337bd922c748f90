from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from app.training import train  # noqa: E402


def test_run_train_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(train, "train_and_save", lambda **kw: calls.append(kw) or {})
    ns = argparse.Namespace(epochs=None, device=None, artifacts_dir=None, data_dir=None, seed=None)
    assert train.run_train(ns) == 0
    assert calls[0]["epochs"] == 20 and calls[0]["finetune_epochs"] == 10
    assert calls[0]["device"] == "auto" and calls[0]["seed"] == 0
    assert calls[0]["data_dir"] is None and calls[0]["out_dir"].name == "artifacts"
    ns = argparse.Namespace(
        epochs=2, device="cpu", artifacts_dir=tmp_path, data_dir=tmp_path, seed=3
    )
    assert train.run_train(ns) == 0
    assert calls[1] == {
        "out_dir": tmp_path,
        "data_dir": tmp_path,
        "epochs": 2,
        "device": "cpu",
        "seed": 3,
        "finetune_epochs": 10,
    }


def test_run_train_missing_data_returns_1(tmp_path: Path) -> None:
    ns = argparse.Namespace(
        epochs=1, device="cpu", artifacts_dir=tmp_path / "a", data_dir=tmp_path / "nodata", seed=0
    )
    assert train.run_train(ns) == 1
    assert not (tmp_path / "a").exists()
