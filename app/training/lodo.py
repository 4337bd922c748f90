"""Leave-one-dataset-out (LODO) evaluation: for each dataset with a clean background, train
the model without it (``dataset.build_sets(exclude=...)``) and evaluate on it: false alarms
on its real clean stretches and injected leaks on its background, beside the statistical
baseline (which is not trained). The LSTM epochs are an option (``--lodo-epochs``,
``--lodo-finetune-epochs``) because a full training per dataset takes hours on 2 shared
cores; the report states the epochs used. The pure SVM is trained in full either way."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.alerting.configure import evaluation_policy
from app.alerting.leak import PolicyConfig
from app.ml.signal import SignalConfig
from app.training import leak_benchmark as B
from app.training import real_cases as R
from app.training.case_figures import clean_totals, run_cases
from app.training.online_replay import AnyDetector, StatDetector
from app.training.reference_detectors import RobustZConfig, gated_detector

#: dataset -> (its clean stretches, its injected-leak benchmark); a dataset's name is the
#: prefix of its training backgrounds' names (``dataset.backgrounds``).
LODO_DATASETS: dict[str, tuple[Callable[..., list[R.NamedCase]], Callable[..., B.Benchmark]]] = {
    "smoke_iot": (R.smoke_clean, B.smoke_clean_benchmark),
    "air_quality_uci": (R.airq_clean, B.airq_benchmark),
    "methane_chamber_afc": (R.afc_clean, B.afc_benchmark),
}
#: Default LODO epochs: autoencoder, supervised fine-tuning (the shipped model: 50, 20).
LODO_EPOCHS = (5, 3)
#: Injected-leak replicates per background session in LODO.
LODO_REPLICATES = {"smoke_iot": 10, "air_quality_uci": 3, "methane_chamber_afc": 2}
FIGS = ("event_recall", "event_recall_ge_3sd", "delay_median_s", "false_alarms_per_1000h")


def _detectors(res: dict[str, Any]) -> dict[str, AnyDetector]:
    return {
        "lstm_svm": gated_detector("lstm_svm", res["lstm"], "LODO LSTM+SVM"),
        "svm": gated_detector("svm", res["pure"], "LODO pure SVM"),
        "stat_baseline": StatDetector("stat_baseline", RobustZConfig(), "robust z"),
    }


def lodo_one(
    name: str,
    data_dir: Path | None,
    seed: int,
    epochs: tuple[int, int],
    policy: PolicyConfig,
    progress: bool,
    train_seed: int = 0,
) -> dict[str, Any]:
    """Train without ``name`` (data and model seeded with ``train_seed``, training's default)
    and evaluate on it (leaks seeded with ``seed``). Returns the figures per detector."""
    import torch

    from app.ml.model import ModelConfig
    from app.training.dataset import build_sets
    from app.training.train import train_on_sets

    t0 = time.perf_counter()
    tr, ho = build_sets(data_dir, train_seed, exclude=name)
    cfg = ModelConfig(epochs=epochs[0], finetune_epochs=epochs[1])
    res = train_on_sets(
        tr, ho, cfg=cfg, dev=torch.device("cpu"), seed=train_seed, progress=progress
    )
    t_train = time.perf_counter() - t0
    dets, sig = _detectors(res), SignalConfig()
    cases_fn, bench_fn = LODO_DATASETS[name]
    totals = clean_totals(run_cases(cases_fn(data_dir), dets, policy, sig))
    bench = bench_fn(data_dir, seed, replicates=LODO_REPLICATES[name])
    out: dict[str, Any] = {
        "train_windows": int(len(tr.labels)),
        "holdout": res["holdout"],
        "benchmark": bench.name,
        "detectors": {},
    }
    for d, det in dets.items():
        s = B.summarise(bench, B.run_detector(bench, det, policy, sig), policy.raise_p)
        out["detectors"][d] = {
            "clean_false_alarms": totals[d]["false_alarms"],
            "clean_device_hours": totals[d]["device_hours"],
            "clean_upper_95_per_1000h": totals[d]["upper_95_per_1000h"],
            "events": s["events"],
            **{k: s.get(k) for k in FIGS},
        }
    out["seconds_train"] = round(t_train, 1)
    out["seconds_total"] = round(time.perf_counter() - t0, 1)
    return out


def run_lodo(
    data_dir: Path | None, seed: int, epochs: tuple[int, int] = LODO_EPOCHS, progress: bool = True
) -> dict[str, Any]:
    """Every dataset in LODO_DATASETS; returns {"epochs", "datasets": {name: figures}}."""
    policy = evaluation_policy()
    out = {name: lodo_one(name, data_dir, seed, epochs, policy, progress) for name in LODO_DATASETS}
    return {
        "autoencoder_epochs": epochs[0],
        "finetune_epochs": epochs[1],
        "seed": seed,
        "train_seed": 0,
        "computed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python main.py --mode evaluate --lodo --lodo-epochs "
        f"{epochs[0]} --lodo-finetune-epochs {epochs[1]}",
        "datasets": out,
    }
