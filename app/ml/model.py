"""PyTorch LSTM feature extractor and the autoencoder it is pre-trained in.

Input: preprocessed windows, float32 tensor (B, sequence_length, n_features) (see
``app.ml.features.preprocess``). Output of ``GasLeakLSTM``: (B, code_size) float32 features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and training defaults (stored in ``lstm.pth`` as a dict)."""

    sequence_length: int = 60
    n_features: int = 4
    lstm_units: int = 50
    lstm_layers: int = 2
    fc_sizes: tuple[int, ...] = field(default=(32, 16))
    code_size: int = 8
    dropout: float = 0.2
    batch_size: int = 32
    #: Autoencoder epochs (the seed design said 50; 20 since the training set grew with
    #: methane_chamber_afc, so that ``python main.py --mode train`` stays within minutes on a
    #: shared 2-core machine; see the manifest's ``training.seconds``).
    epochs: int = 20
    learning_rate: float = 0.001
    #: Per-channel weights of the reconstruction MSE (gas log ratio, gas in noise scales,
    #: temperature, humidity): the code should describe the gas shape first; T/RH are context.
    loss_weights: tuple[float, ...] = field(default=(1.0, 1.0, 0.1, 0.1))
    #: Stage 2: epochs of supervised fine-tuning of the encoder with a linear BCE head on the
    #: labelled training windows (0 = autoencoder features only, the first shipped model).
    finetune_epochs: int = 10
    #: What the SVM of the LSTM+SVM model sees: "code" (the 8-d code), "code+window" (the
    #: code followed by ``features.window_features``) or "logit+window" (the fine-tuned leak
    #: head's logit, kept in the encoder as ``leak_head``, followed by the window features).
    svm_features: str = "logit+window"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fc_sizes"] = list(self.fc_sizes)
        d["loss_weights"] = list(self.loss_weights)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        d["fc_sizes"] = tuple(d.get("fc_sizes", (32, 16)))
        d["loss_weights"] = tuple(d.get("loss_weights", (1.0, 0.1, 0.1)))
        # Artifacts written before these fields existed: code-only SVM, no fine-tuning.
        d.setdefault("finetune_epochs", 0)
        d.setdefault("svm_features", "code")
        return cls(**d)


class GasLeakLSTM(nn.Module):
    """Encoder: stacked LSTM -> last layer's final hidden state -> 3 FC layers -> code.

    forward(x: (B, T, n_features) float32) -> (B, code_size) float32.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.lstm = nn.LSTM(
            cfg.n_features,
            cfg.lstm_units,
            cfg.lstm_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.lstm_layers > 1 else 0.0,
        )
        layers: list[nn.Module] = []
        width = cfg.lstm_units
        for size in cfg.fc_sizes:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(cfg.dropout)]
            width = size
        layers.append(nn.Linear(width, cfg.code_size))
        self.head = nn.Sequential(*layers)
        #: code -> leak logit, trained in stage 2; only when the SVM uses it (older weights
        #: have no such layer).
        with_head = cfg.svm_features.startswith("logit")
        self.leak_head = nn.Linear(cfg.code_size, 1) if with_head else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(x)
        out: torch.Tensor = self.head(h[-1])
        return out


class LSTMAutoencoder(nn.Module):
    """Encoder + decoder that repeats the code over T steps through an LSTM and a linear layer.

    forward(x: (B, T, n_features)) -> reconstruction (B, T, n_features) float32.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = GasLeakLSTM(cfg)
        self.decoder = nn.LSTM(cfg.code_size, cfg.lstm_units, 1, batch_first=True)
        self.out = nn.Linear(cfg.lstm_units, cfg.n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        code = self.encoder(x)
        rep = code[:, None, :].expand(-1, x.shape[1], -1)
        y, _ = self.decoder(rep)
        out: torch.Tensor = self.out(y)
        return out


def resolve_device(device: str = "auto") -> torch.device:
    """ "auto" -> cuda:0 when available else cpu; "cpu" / "cuda" / "cuda:N" force.

    Raises:
        ValueError: unknown name, or cuda asked for but not available.
    """
    if device == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
        return torch.device("cuda:0" if device == "cuda" else device)
    raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda")
