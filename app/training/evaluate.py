"""``python main.py --mode evaluate --report-dir DIR [--lodo]``: detection quality of every
detector on every real clean stretch, the real events, the injected-leak benchmarks and
(``--lodo``) leave-one-dataset-out; writes ``DIR/report.json``, ``DIR/report.md`` and PNG
plots (``app.training.eval_report``) and the README's detection tables. Entry point:
:func:`run_evaluate`.

Every detector replays each device as the service runs it (``app.training.online_replay``:
fresh device, its signal model from row 0 and held while an alert is open, the service's
alert policy with the evidence gate, default raise at 0.7 for 3 windows spanning >= 5 s
or for 10 of the last 30 windows, clear below 0.3 for 10), so event recall, detection delay
and false alarms describe the service as deployed.
Window precision/recall/F1 use the policy's raise probability (0.7) as the threshold.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from app.alerting.configure import evaluation_policy
from app.alerting.leak import PolicyConfig
from app.ml.artifacts import ArtifactError, load_manifest
from app.ml.features import series_windows
from app.ml.predictor import load_predictor
from app.ml.signal import SignalConfig
from app.training import data as D
from app.training import leak_benchmark as B
from app.training import real_cases as R
from app.training.case_figures import clean_totals, run_cases
from app.training.dataset import HOLDOUT_FRACTION, backgrounds
from app.training.online_replay import AnyDetector, StatDetector
from app.training.reference_detectors import (
    Detector,
    IsoForestScorer,
    RobustZConfig,
    gated_detector,
    threshold_detector,
    ungated,
)

#: Default seed of the injected leaks (fixed so reruns and versions compare).
TEST_SEED = 12345
#: Low alarm set point of the fixed-threshold baseline: 10 % LEL methane, ppm.
LEL10_PPM = 5_000.0
#: The committed report folder; README's tables are generated from its report.json.
REPORT_DIR = Path("docs") / "evaluation"
#: Most leak-free training windows the IsolationForest is fitted on.
ISO_MAX_WINDOWS = 20_000


def _training_windows(data_dir: Path | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Leak-free windows from the first 80 % of each training background (no injection)."""
    ws, bs = [], []
    for bg in backgrounds(data_dir):
        part = bg.series[: int(len(bg.series) * (1 - HOLDOUT_FRACTION))]
        w, b, _ = series_windows(part, bg.times()[: len(part)], bg.stride)
        ws.append(w)
        bs.append(b)
    w, b = np.concatenate(ws), np.concatenate(bs)
    idx = np.random.default_rng(seed).permutation(len(w))[:ISO_MAX_WINDOWS]
    return w[idx], b[idx]


STAT_DESCRIPTION = (
    "robust z-score of each reading against the median and 1.4826 x MAD of "
    "the last {history} readings (floored at {rel_floor:.0%} of the median), "
    "{warmup}-reading warm-up, raised at z >= {z_on:g} for 3 readings, baseline "
    "frozen while an alert is open"
)


def _sensor_sets(art: Path, data_dir: Path | None) -> dict[str, tuple[np.ndarray, str]]:
    """Training-part gas readings and unit per sensor, for the fitted set point."""
    smoke = D.load_smoke_iot(data_dir).series[D.SMOKE_TRAIN[0] : D.SMOKE_TRAIN[1], 0]
    aq = D.load_air_quality(data_dir)
    afc = D.load_afc(data_dir)
    return {
        "smoke": (smoke, "ppm"),
        "airq": (aq.series[aq.dates < D.AIRQ_TRAIN_BEFORE, 0], "raw units"),
        "afc": (afc.series[afc.session == 0, 0], "mV"),
    }


def build_detectors(
    art: Path, data_dir: Path | None, device: str, seed: int
) -> tuple[dict[str, dict[str, AnyDetector]], SignalConfig]:
    """Detectors per sensor ("smoke": SGP30 eCO2 ppm, "airq": PT08.S1 raw units, "afc":
    Figaro CH4_1 mV) and the shipped model's signal-model parameters."""
    lstm = load_predictor(art, device=device)
    svm = load_predictor(art, use_torch=False)
    norm = load_manifest(art)["normalisation"]
    iso = IsoForestScorer(norm, seed).fit(*_training_windows(data_dir, seed))
    stat = RobustZConfig()
    common: dict[str, AnyDetector] = {
        "lstm_svm": gated_detector(
            "lstm_svm", lstm, lstm.model_type + ", behind the evidence gate"
        ),
        "svm": gated_detector("svm", svm, svm.model_type + " (fallback), behind the evidence gate"),
        "stat_baseline": StatDetector("stat_baseline", stat, STAT_DESCRIPTION.format(**vars(stat))),
        "isolation_forest": Detector(
            "isolation_forest", ungated(iso), "IsolationForest, window features"
        ),
    }
    out: dict[str, dict[str, AnyDetector]] = {}
    for sensor, (train_gas, unit) in _sensor_sets(art, data_dir).items():
        fitted = round(1.1 * float(np.nanmax(train_gas)), 1)
        lel = threshold_detector("threshold", LEL10_PPM, unit)
        out[sensor] = {
            **common,
            "threshold": Detector(
                "threshold", lel.score, f"gas >= {LEL10_PPM:g} {unit} (10 % LEL methane set point)"
            ),
            "threshold_fitted": threshold_detector("threshold_fitted", fitted, unit),
        }
    return out, lstm.signal_cfg


#: Sensor of each named case's dataset (synthetic probes are in ppm, like smoke_iot).
CASE_SENSOR = {
    "smoke_iot": "smoke",
    "synthetic": "smoke",
    "air_quality_uci": "airq",
    "methane_chamber_afc": "afc",
}


def named_cases(
    dets: dict[str, dict[str, AnyDetector]],
    sig: SignalConfig,
    data_dir: Path | None,
    policy: PolicyConfig,
) -> dict[str, Any]:
    """Every clean stretch and real event, each with its sensor's detectors."""
    out: dict[str, Any] = {"clean_stretches": [], "events": []}
    for key, cases in (
        ("clean_stretches", R.clean_stretches(data_dir)),
        ("events", R.real_events(data_dir)),
    ):
        for c in cases:
            out[key] += run_cases([c], dets[CASE_SENSOR[c.dataset]], policy, sig)
    out["clean_totals"] = {
        g: clean_totals(out["clean_stretches"], g) for g in ("real", "synthetic")
    }
    return out


def _scaled(bench: B.Benchmark, gain: float, offset: float) -> B.Benchmark:
    cases = [
        B.Case(
            c.name,
            np.column_stack([c.series[:, 0] * gain + offset, c.series[:, 1:]]),
            c.dt_s,
            c.win_labels,
            c.events,
            c.fa_rows,
            c.fa_hours,
            c.ts,
        )
        for c in bench.cases
    ]
    return B.Benchmark(bench.name, bench.description, bench.dt_s, cases)


def scale_check(
    bench: B.Benchmark,
    dets: dict[str, AnyDetector],
    raw: dict[str, Any],
    policy: PolicyConfig,
    sig: SignalConfig,
) -> dict[str, Any]:
    """Scores with the gas channel x10 and with +median offset, against the original."""
    med = float(np.median(np.concatenate([c.series[:, 0] for c in bench.cases])))
    out: dict[str, Any] = {"benchmark": bench.name}
    for label, gain, off in (("gas_x10", 10.0, 0.0), (f"gas_plus_{med:.0f}", 1.0, med)):
        sb = _scaled(bench, gain, off)
        for name in ("lstm_svm", "svm"):
            r = B.run_detector(sb, dets[name], policy, sig)
            p0 = np.concatenate([c["scores"] for c in raw[name]["cases"]])
            p1 = np.concatenate([c["scores"] for c in r["cases"]])
            s = B.summarise(sb, r, policy.raise_p)
            out.setdefault(label, {})[name] = {
                "mean_abs_score_change": round(float(np.abs(p1 - p0).mean()), 4),
                "windows_decision_flipped": round(
                    float(((p1 >= policy.raise_p) != (p0 >= policy.raise_p)).mean()), 4
                ),
                "event_recall": s["event_recall"],
                "false_alarms_per_1000h": s["false_alarms_per_1000h"],
            }
    return out


def evaluate_all(
    art: Path,
    data_dir: Path | None,
    device: str,
    seed: int,
    progress: bool = True,
    quick: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every benchmark and named case with every detector. Returns (report dict, raw
    scores for plots). ``quick`` shrinks the replicates (for tests)."""
    policy = evaluation_policy()
    dets, sig = build_detectors(art, data_dir, device, seed)
    benches = [
        (B.smoke_real_benchmark(data_dir), "smoke"),
        (B.airq_benchmark(data_dir, seed, replicates=1 if quick else 3), "airq"),
        (B.smoke_clean_benchmark(data_dir, seed, replicates=3 if quick else 40), "smoke"),
    ]
    report: dict[str, Any] = {"datasets": {}}
    raws: dict[str, Any] = {}
    bar = tqdm(
        total=sum(len(dets[s]) for _, s in benches) + 2, desc="evaluate", disable=not progress
    )
    for bench, sensor in benches:
        entry: dict[str, Any] = {
            "description": bench.description,
            "dt_s": bench.dt_s,
            "detectors": {},
            "detector_descriptions": {},
        }
        raws[bench.name] = {"bench": bench, "raw": {}}
        for name, det in dets[sensor].items():
            bar.set_postfix_str(f"{bench.name} {name}")
            raw = B.run_detector(bench, det, policy, sig)
            raws[bench.name]["raw"][name] = raw
            entry["detectors"][name] = B.summarise(bench, raw, policy.raise_p)
            entry["detector_descriptions"][name] = det.description
            bar.update()
        report["datasets"][bench.name] = entry
    bar.set_postfix_str("named cases")
    report.update(named_cases(dets, sig, data_dir, policy))
    bar.update()
    bar.set_postfix_str("scale check")
    air = raws["leak_benchmark_air_quality"]
    report["scale_invariance"] = scale_check(air["bench"], dets["airq"], air["raw"], policy, sig)
    bar.update()
    bar.close()
    report["policy"] = {
        "raise_p": policy.raise_p,
        "raise_n": policy.raise_n,
        "raise_min_s": policy.raise_min_s,
        "clear_p": policy.clear_p,
        "clear_n": policy.clear_n,
        "dense_k": policy.dense_k,
        "dense_n": policy.dense_n,
        "off_delay_s": policy.off_delay_s,
    }
    report["signal"] = sig.to_dict()
    return report, raws


def _lodo(
    args: argparse.Namespace, data_dir: Path | None, seed: int, out: Path
) -> dict[str, Any] | None:
    """With ``args.lodo``: run LODO and write ``out/lodo.json``. Then return the contents of
    ``out/lodo.json`` if it exists (LODO trains its own models and does not depend on the
    shipped one, so a report without ``--lodo`` keeps the last LODO figures), else None."""
    import json

    from app.training.lodo import LODO_EPOCHS, run_lodo

    path = out / "lodo.json"
    if getattr(args, "lodo", False):
        ep = (
            getattr(args, "lodo_epochs", None) or LODO_EPOCHS[0],
            getattr(args, "lodo_finetune_epochs", None) or LODO_EPOCHS[1],
        )
        res = run_lodo(data_dir, seed, ep)
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=2) + "\n")
    return json.loads(path.read_text()) if path.is_file() else None


def run_evaluate(args: argparse.Namespace) -> int:
    """CLI entry: uses ``report_dir``, ``data_dir``, ``seed``, ``artifacts_dir``, ``device``,
    ``lodo``, ``lodo_epochs``, ``lodo_finetune_epochs`` when set (each may be None or
    absent). Writes README's detection tables when the report goes to the committed
    ``docs/evaluation``. Returns a process exit code."""
    from app.training.eval_report import card_section, write_report
    from app.training.model_card import update_model_card_report
    from app.training.report_tables import update_readme

    root = Path(__file__).resolve().parents[2]
    art = Path(getattr(args, "artifacts_dir", None) or root / "artifacts")
    data_dir = getattr(args, "data_dir", None)
    seed = getattr(args, "seed", None)
    seed = TEST_SEED if seed is None else int(seed)
    out = Path(getattr(args, "report_dir", None) or root / REPORT_DIR)
    t0 = time.perf_counter()
    try:
        lodo = _lodo(args, data_dir, seed, out)
        report, raws = evaluate_all(
            art,
            data_dir,
            getattr(args, "device", None) or "auto",
            seed,
            quick=bool(getattr(args, "quick", False)),
        )
        if lodo:
            report["lodo"] = lodo
        report["meta"] = {
            "command": f"python main.py --mode evaluate --report-dir {out}"
            + (" --lodo" if getattr(args, "lodo", False) else ""),
            "seed": seed,
            "artifacts_dir": str(art),
            "manifest_created": load_manifest(art).get("created"),
            "seconds": round(time.perf_counter() - t0, 1),
            "load_average_at_end": list(os.getloadavg()),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
        }
        write_report(report, raws, load_manifest(art), out)
        update_model_card_report(art / "MODEL_CARD.md", card_section(report))
        if out.resolve() == (root / REPORT_DIR).resolve():
            update_readme(root / "README.md", report)
            print("README.md detection tables updated from the report")
    except (ArtifactError, FileNotFoundError, ValueError) as exc:
        print(f"evaluation failed: {exc}")
        return 1
    print(
        f"report written to {out / 'report.json'} and {out / 'report.md'} "
        f"in {report['meta']['seconds']:.0f} s"
    )
    return 0
