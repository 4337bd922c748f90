"""The evaluation pipeline on a tiny synthetic input: benchmark cases, detectors through the
alert policy, report.json keys and the report files. Fast, no data and no torch needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from app.alerting.leak import PolicyConfig
from app.ml.features import series_windows
from app.training import leak_benchmark as B
from app.training import real_cases as R
from app.training.case_figures import clean_totals, run_cases
from app.training.eval_report import write_report
from app.training.leaks import LeakEvent, LeakInjector
from app.training.online_replay import StatDetector
from app.training.reference_detectors import (
    Detector,
    IsoForestScorer,
    RobustZConfig,
    threshold_detector,
    ungated,
)

NORM = {"temperature_dev_std": 0.1, "humidity_dev_std": 0.5}
REQUIRED = {
    "window_f1",
    "roc_auc",
    "event_recall",
    "delay_median_s",
    "delay_p90_s",
    "false_alarms_per_1000h",
}


def background(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [420 + rng.normal(0, 3, n), 21 + rng.normal(0, 0.1, n), 45 + rng.normal(0, 0.5, n)]
    )


def tiny_bench() -> B.Benchmark:
    bench = B.leak_benchmark(
        "tiny",
        "synthetic",
        [background(600, 0)],
        1.0,
        LeakInjector(duration_range=(60, 120), gap_range=(100, 150)),
        replicates=2,
        seed=1,
    )
    # one more case with a known leak: 420 -> ~8,000 ppm from reading 300
    ev = LeakEvent("ramp", 300, 200, 3.0)
    res = LeakInjector().inject(background(600, 2), seed=3, events=[ev])
    bench.cases.append(
        B.Case("known", res.series, 1.0, B.injected_labels(res), [(300, 500, 100.0)])
    )
    return bench


def test_threshold_detector_finds_the_known_leak_and_is_quiet_on_background() -> None:
    bench = tiny_bench()
    det = threshold_detector("threshold", 5000.0, "ppm")
    raw = B.run_detector(bench, det, PolicyConfig())
    known = raw["cases"][-1]
    assert len(known["raised"]) == 1 and 300 < known["raised"][0] < 500
    figs = B.summarise(bench, raw, 0.7)
    assert figs.keys() >= REQUIRED
    assert figs["false_alarms"] == 0 and figs["false_alarms_per_1000h"] == 0.0
    assert figs["background_device_hours"] == round(600 / 3600, 3)
    assert figs["events"] >= 1 and figs["events_detected"] >= 1
    assert figs["delay_median_s"] is not None and figs["delay_median_s"] > 0


LODO = {
    "autoencoder_epochs": 1,
    "finetune_epochs": 1,
    "seed": 1,
    "train_seed": 0,
    "computed": "-",
    "command": "test",
    "datasets": {
        "tiny": {
            "benchmark": "tiny",
            "train_windows": 10,
            "seconds_total": 1.0,
            "detectors": {
                "stat_baseline": {
                    "clean_false_alarms": 0,
                    "clean_device_hours": 2.0,
                    "clean_upper_95_per_1000h": 1500.0,
                    "events": 4,
                    "event_recall": 0.5,
                    "event_recall_ge_3sd": 1.0,
                    "delay_median_s": 12.0,
                    "false_alarms_per_1000h": 0.0,
                }
            },
        }
    },
}


def named(dets: dict, policy: PolicyConfig) -> dict:
    """The synthetic named cases (clean probes, the persistent leak) through every detector."""
    clean = run_cases(R.synthetic_clean(), dets, policy, None)
    events = run_cases([R.persistent_leak()], dets, policy, None)
    return {
        "clean_stretches": clean,
        "events": events,
        "clean_totals": {"real": {}, "synthetic": clean_totals(clean, "synthetic")},
    }


def test_report_files_and_json_shape(tmp_path: Path) -> None:
    bench = tiny_bench()
    policy = PolicyConfig()
    iso = IsoForestScorer(NORM).fit(*series_windows(background(900, 5), np.arange(900.0))[:2])
    dets = {
        "threshold": threshold_detector("threshold", 5000.0, "ppm"),
        "isolation_forest": Detector("isolation_forest", ungated(iso), "iso"),
        "stat_baseline": StatDetector("stat_baseline", RobustZConfig(), "robust z"),
    }
    raws = {"tiny": {"bench": bench, "raw": {}}}
    entry = {"description": "synthetic", "dt_s": 1.0, "detectors": {}, "detector_descriptions": {}}
    for name, det in dets.items():
        raws["tiny"]["raw"][name] = B.run_detector(bench, det, policy)
        entry["detectors"][name] = B.summarise(bench, raws["tiny"]["raw"][name], 0.7)
        entry["detector_descriptions"][name] = det.description
    report = {
        "datasets": {"tiny": entry},
        "policy": {"raise_p": 0.7, "raise_n": 3, "clear_p": 0.3, "clear_n": 10},
        "scale_invariance": {"benchmark": "tiny"},
        **named(dets, policy),
        "lodo": LODO,
        "meta": {
            "command": "test",
            "seed": 1,
            "artifacts_dir": "-",
            "manifest_created": "-",
            "seconds": 0.0,
            "cpu_count": 2,
            "load_average_at_end": [0.0, 0.0, 0.0],
        },
    }
    manifest = {
        "training": {
            "loss_history": {
                "autoencoder": [{"epoch": 1, "train_mse": 0.2, "val_mse": 0.3}],
                "finetune": [],
            }
        }
    }
    write_report(report, raws, manifest, tmp_path)
    back = json.loads((tmp_path / "report.json").read_text())
    for det in ("threshold", "isolation_forest", "stat_baseline"):
        assert back["datasets"]["tiny"]["detectors"][det].keys() >= REQUIRED
    md = (tmp_path / "report.md").read_text()
    assert "| wave 400+25 sin(i/15) ppm, 1 Hz |" in md
    assert "| tiny | stat_baseline | 0 (2; ≤ 1,500) | 4 | 0.5 | 1 | 12 | 0 |" in md
    ev = back["events"][0]["detectors"]
    # threshold (5,000 ppm) never fires on 3,000 ppm; the baseline learns a leak that starts
    # inside its 120-reading warm-up (the leak starts at reading 60)
    assert not ev["threshold"]["detected"] and not ev["stat_baseline"]["detected"]
    assert "| threshold |" in md and "training_loss.png" in md
    for png in ("roc_pr_tiny.png", "timeline_tiny.png", "confusion_tiny.png", "training_loss.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
