"""Train the two-stage model (LSTM autoencoder features + SVM) and the pure-SVM fallback,
then write the artifacts. Entry points: ``train_and_save`` and ``run_train`` (CLI)."""

from __future__ import annotations

import argparse
import random
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from tqdm import tqdm

from app.ml import artifacts as A
from app.ml.features import fit_norm, preprocess, window_features
from app.ml.model import GasLeakLSTM, LSTMAutoencoder, ModelConfig, resolve_device
from app.ml.predictor import LSTMSVMPredictor, PureSVMPredictor
from app.training.dataset import SVM_MAX_TRAIN, WindowSet, build_sets
from app.training.model_card import build_manifest, write_model_card
from app.training.quality import metrics
from app.training.real_slices import slice_report


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit_autoencoder(
    x_tr: np.ndarray, x_val: np.ndarray, cfg: ModelConfig, dev: torch.device, progress: bool
) -> tuple[GasLeakLSTM, list[dict[str, float]]]:
    """Adam + channel-weighted MSE reconstruction of windows (N, 60, 3); returns the encoder."""
    ae = LSTMAutoencoder(cfg).to(dev)
    opt = torch.optim.Adam(ae.parameters(), lr=cfg.learning_rate)
    xt, xv = torch.from_numpy(x_tr).to(dev), torch.from_numpy(x_val).to(dev)
    wts = torch.tensor(cfg.loss_weights, dtype=torch.float32, device=dev)
    history: list[dict[str, float]] = []
    bar = tqdm(range(cfg.epochs), desc="autoencoder", disable=not progress)
    for epoch in bar:
        ae.train()
        perm, total = torch.randperm(len(xt), device=dev), 0.0
        for i in range(0, len(xt), cfg.batch_size):
            xb = xt[perm[i : i + cfg.batch_size]]
            loss = (((ae(xb) - xb) ** 2) * wts).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        val = _recon_loss(ae, xv, wts, cfg.batch_size * 16)
        history.append({"epoch": epoch + 1, "train_mse": total / len(xt), "val_mse": val})
        bar.set_postfix(train=f"{total / len(xt):.4f}", val=f"{val:.4f}")
        print(
            f"epoch {epoch + 1:3d}/{cfg.epochs}  train mse {total / len(xt):.5f}  "
            f"hold-out mse {val:.5f}",
            flush=True,
        )
    return ae.encoder.eval(), history


@torch.inference_mode()
def _recon_loss(ae: LSTMAutoencoder, x: torch.Tensor, wts: torch.Tensor, bs: int) -> float:
    """Channel-weighted reconstruction MSE of x (N, T, C), no gradient."""
    ae.eval()
    tot = sum(
        (((ae(x[i : i + bs]) - x[i : i + bs]) ** 2) * wts).sum().item()
        for i in range(0, len(x), bs)
    )
    return float(tot / x.numel())


def finetune_encoder(
    encoder: GasLeakLSTM,
    x_tr: np.ndarray,
    y_tr: np.ndarray,
    cfg: ModelConfig,
    dev: torch.device,
    progress: bool,
) -> tuple[GasLeakLSTM, list[dict[str, float]]]:
    """Stage 2: train encoder + a linear head (code -> logit) with class-balanced BCE on the
    labelled training windows x_tr (N, 60, 3), y_tr (N,) 0/1, for ``cfg.finetune_epochs``.

    The head is kept in the encoder when it has a ``leak_head`` (svm_features "logit+window"),
    else thrown away; the 8-d code then carries the leak signal for the SVM. Same
    learning rate as stage 1 (a tenth of it left the code underfit: hold-out F1 0.836).
    Returns the encoder (eval mode) and per-epoch {"epoch", "finetune_bce"}.
    """
    head = (
        encoder.leak_head
        if encoder.leak_head is not None
        else torch.nn.Linear(cfg.code_size, 1).to(dev)
    )
    params = list(encoder.parameters())  # includes leak_head when the encoder has one
    if encoder.leak_head is None:
        params += list(head.parameters())
    opt = torch.optim.Adam(params, lr=cfg.learning_rate)
    xt = torch.from_numpy(x_tr).to(dev)
    yt = torch.from_numpy(y_tr.astype(np.float32)).to(dev)
    pos = float(yt.mean().clamp(1e-3, 1 - 1e-3))
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((1 - pos) / pos, device=dev))
    history: list[dict[str, float]] = []
    bar = tqdm(range(cfg.finetune_epochs), desc="fine-tune", disable=not progress)
    for epoch in bar:
        encoder.train()
        perm, total = torch.randperm(len(xt), device=dev), 0.0
        for i in range(0, len(xt), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            loss = lossf(head(encoder(xt[idx]))[:, 0], yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        history.append({"epoch": epoch + 1, "finetune_bce": total / len(xt)})
        print(
            f"fine-tune epoch {epoch + 1:3d}/{cfg.finetune_epochs}  bce {total / len(xt):.5f}",
            flush=True,
        )
    return encoder.eval(), history


def fit_svm(feats: np.ndarray, labels: np.ndarray, seed: int) -> Pipeline:
    """StandardScaler + SVC(rbf, probability, balanced) on at most SVM_MAX_TRAIN rows."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(labels))[:SVM_MAX_TRAIN]
    svc = SVC(kernel="rbf", probability=True, class_weight="balanced", random_state=seed)
    with warnings.catch_warnings():
        # sklearn 1.9 deprecates probability=True (removal in 1.11); the design asks for it
        # and the fitted Platt model loads fine. Revisit with CalibratedClassifierCV later.
        warnings.filterwarnings("ignore", "The `probability` parameter", FutureWarning)
        return make_pipeline(StandardScaler(), svc).fit(feats[idx], labels[idx])


def train_on_sets(
    tr: WindowSet,
    ho: WindowSet,
    *,
    cfg: ModelConfig,
    dev: torch.device,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """Fit norm, autoencoder, both SVMs on ``tr``; score ``ho``. Returns models and figures."""
    seed_everything(seed)
    norm = fit_norm(tr.windows)
    x_tr, x_ho = (preprocess(s.windows, s.signal, norm) for s in (tr, ho))
    encoder, history = fit_autoencoder(x_tr, x_ho, cfg, dev, progress)
    finetune: list[dict[str, float]] = []
    if cfg.finetune_epochs > 0:
        encoder, finetune = finetune_encoder(encoder, x_tr, tr.labels, cfg, dev, progress)
    lstm = LSTMSVMPredictor(encoder, None, norm)
    lstm.pipeline = fit_svm(lstm.features(tr.windows, tr.signal), tr.labels, seed)
    pure = PureSVMPredictor(fit_svm(window_features(x_tr), tr.labels, seed), norm)
    figures = {
        name: metrics(ho.labels, pred.leak_probability(ho.windows, ho.signal))
        for name, pred in (("lstm_svm", lstm), ("pure_svm", pure))
    }
    return {
        "norm": norm,
        "lstm": lstm,
        "pure": pure,
        "history": history,
        "finetune_history": finetune,
        "holdout": figures,
    }


def save_artifacts(
    res: dict[str, Any], cfg: ModelConfig, manifest: dict[str, Any], out_dir: Path
) -> None:
    """Write lstm.pth, both skops pipelines, manifest.json and MODEL_CARD.md to ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.cpu() for k, v in res["lstm"].encoder.state_dict().items()}
    A.save_lstm(cfg.to_dict(), state, out_dir / A.LSTM_FILE)
    A.save_svm(res["lstm"].pipeline, out_dir / A.SVM_LSTM_FILE)
    A.save_svm(res["pure"].pipeline, out_dir / A.SVM_PURE_FILE)
    A.write_manifest(manifest, out_dir / A.MANIFEST_FILE)
    write_model_card(manifest, out_dir / A.MODEL_CARD_FILE)


def train_and_save(
    *,
    out_dir: Path,
    data_dir: Path | None,
    epochs: int = ModelConfig.epochs,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
    finetune_epochs: int = ModelConfig.finetune_epochs,
) -> dict[str, Any]:
    """Build the data, train, print figures and write the artifacts to ``out_dir``.

    Returns the manifest dict (figures under "holdout" and "real_slices").
    Raises FileNotFoundError when the data files are missing.
    """
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    dev = resolve_device(device)
    cfg = ModelConfig(epochs=epochs, finetune_epochs=finetune_epochs)
    tr, ho = build_sets(data_dir, seed)
    print(
        f"windows: train {len(tr.labels)} ({tr.labels.mean():.0%} leak), "
        f"hold-out {len(ho.labels)} ({ho.labels.mean():.0%} leak); device {dev}"
    )
    res = train_on_sets(tr, ho, cfg=cfg, dev=dev, seed=seed, progress=progress)
    slices = {k: slice_report(res[k], data_dir) for k in ("lstm", "pure")}
    manifest = build_manifest(res, tr, ho, cfg, slices, str(dev), time.perf_counter() - t0)
    save_artifacts(res, cfg, manifest, Path(out_dir))
    for name, fig in res["holdout"].items():
        print(f"hold-out {name}: {fig}")
    for name, rep in slices.items():
        print(f"real slices {name}: {rep}")
    print(f"training took {manifest['training']['seconds']:.0f} s; artifacts in {out_dir}")
    return manifest


def run_train(args: argparse.Namespace) -> int:
    """CLI entry: ``args.epochs``, ``device``, ``artifacts_dir``, ``data_dir``, ``seed``
    (each may be None or absent -> default). Returns a process exit code."""
    root = Path(__file__).resolve().parents[2]

    def get(k: str, d: Any) -> Any:
        return d if getattr(args, k, None) is None else getattr(args, k)

    try:
        train_and_save(
            out_dir=Path(get("artifacts_dir", root / "artifacts")),
            data_dir=None if get("data_dir", None) is None else Path(args.data_dir),
            epochs=int(get("epochs", ModelConfig.epochs)),
            finetune_epochs=int(get("finetune_epochs", ModelConfig.finetune_epochs)),
            device=str(get("device", "auto")),
            seed=int(get("seed", 0)),
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"training failed: {exc}")
        return 1
    return 0
