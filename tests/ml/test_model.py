from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from app.ml.model import GasLeakLSTM, LSTMAutoencoder, ModelConfig, resolve_device  # noqa: E402


def test_defaults() -> None:
    c = ModelConfig()
    assert (c.sequence_length, c.n_features, c.lstm_units, c.lstm_layers) == (60, 4, 50, 2)
    assert (c.batch_size, c.epochs, c.learning_rate, c.code_size) == (32, 20, 0.001, 8)
    assert (c.finetune_epochs, c.svm_features) == (10, "logit+window")
    assert ModelConfig.from_dict(c.to_dict()) == c


def test_forward_shapes() -> None:
    x = torch.randn(4, 60, 4)
    assert GasLeakLSTM(ModelConfig())(x).shape == (4, 8)
    assert LSTMAutoencoder(ModelConfig())(x).shape == (4, 60, 4)


def test_resolve_device() -> None:
    assert str(resolve_device("cpu")) == "cpu"
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_leak_head_only_for_logit_features_and_legacy_configs_load() -> None:
    assert GasLeakLSTM(ModelConfig()).leak_head is not None  # "logit+window"
    assert GasLeakLSTM(ModelConfig(svm_features="code+window")).leak_head is None
    legacy = ModelConfig().to_dict()
    del legacy["svm_features"], legacy["finetune_epochs"]
    old = ModelConfig.from_dict(legacy)
    assert (old.svm_features, old.finetune_epochs) == ("code", 0)
    assert GasLeakLSTM(old).leak_head is None
