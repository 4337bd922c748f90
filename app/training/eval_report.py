"""Write the evaluation report: ``report.json`` (for scripts), ``report.md`` (for people) and
PNG plots (matplotlib, Agg backend): ROC and precision-recall curves, score timelines with
alert marks, confusion matrices at the policy's raise probability, the training loss curve.
Tables come from ``app.training.report_tables``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from app.training.report_tables import (
    bench_table,
    clean_table,
    comparison_text,
    events_table,
    fmt,
    lodo_note,
    lodo_table,
)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _labels_scores(bench: Any, raw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    ys, ps = [], []
    for c, r in zip(bench.cases, raw["cases"], strict=True):
        lab = c.win_labels[r["ends"]]
        keep = lab >= 0
        ys.append(lab[keep])
        ps.append(r["scores"][keep])
    return np.concatenate(ys), np.concatenate(ps)


def plot_roc_pr(name: str, entry: dict[str, Any], out: Path) -> str:
    from sklearn.metrics import precision_recall_curve, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for det, raw in entry["raw"].items():
        y, p = _labels_scores(entry["bench"], raw)
        if not 0 < y.sum() < len(y):
            continue
        fpr, tpr, _ = roc_curve(y, p)
        pr, rc, _ = precision_recall_curve(y, p)
        ax[0].plot(fpr, tpr, label=det)
        ax[1].plot(rc, pr, label=det)
    ax[0].set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {name}")
    ax[1].set(xlabel="recall", ylabel="precision", title="precision-recall (windows)")
    ax[0].legend(fontsize=8)
    fig.tight_layout()
    fn = f"roc_pr_{name}.png"
    fig.savefig(out / fn, dpi=90)
    plt.close(fig)
    return fn


def plot_timeline(name: str, entry: dict[str, Any], out: Path) -> str:
    """Gas and every detector's scores for the first case with events, alerts marked."""
    bench = entry["bench"]
    i = next((k for k, c in enumerate(bench.cases) if c.events), 0)
    case = bench.cases[i]
    plt = _plt()
    n = len(entry["raw"])
    fig, ax = plt.subplots(n + 1, 1, figsize=(10, 1.6 * (n + 1)), sharex=True)
    t = np.arange(len(case.series))
    ax[0].plot(t, case.series[:, 0], lw=0.8)
    ax[0].set_yscale("log")
    ax[0].set_ylabel("gas")
    ax[0].set_title(f"{name}: {case.name} (shaded: events; red: alert raised)")
    for k, (det, raw) in enumerate(entry["raw"].items(), start=1):
        r = raw["cases"][i]
        ax[k].plot(r["ends"], r["scores"], lw=0.8)
        ax[k].axhline(0.7, ls="--", c="k", lw=0.6)
        for row in r["announced"]:
            ax[k].axvline(row, c="r", lw=1.2)
        ax[k].set_ylim(-0.05, 1.05)
        ax[k].set_ylabel(det, fontsize=8)
    for a in ax:
        for s0, e0, _ in case.events:
            a.axvspan(s0, e0, color="orange", alpha=0.2)
    ax[-1].set_xlabel(f"reading ({bench.dt_s:g} s each)")
    fig.tight_layout()
    fn = f"timeline_{name}.png"
    fig.savefig(out / fn, dpi=90)
    plt.close(fig)
    return fn


def plot_confusion(name: str, figures: dict[str, Any], out: Path) -> str:
    plt = _plt()
    dets = [d for d, f in figures.items() if f.get("tp") is not None]
    fig, ax = plt.subplots(1, len(dets), figsize=(2.6 * len(dets), 2.6))
    for a, d in zip(np.atleast_1d(ax), dets, strict=True):
        f = figures[d]
        m = np.array([[f["tn"], f["fp"]], [f["fn"], f["tp"]]])
        a.imshow(m, cmap="Blues")
        for (r, c), v in np.ndenumerate(m):
            a.text(c, r, str(v), ha="center", va="center", fontsize=8)
        a.set(
            xticks=[0, 1],
            yticks=[0, 1],
            xticklabels=["no leak", "leak"],
            yticklabels=["no leak", "leak"],
            title=d,
        )
        a.tick_params(labelsize=7)
    fig.suptitle(f"{name}: windows, true (rows) vs predicted at p >= 0.7", fontsize=9)
    fig.tight_layout()
    fn = f"confusion_{name}.png"
    fig.savefig(out / fn, dpi=90)
    plt.close(fig)
    return fn


def plot_loss(manifest: dict[str, Any], out: Path) -> str | None:
    hist = manifest.get("training", {}).get("loss_history")
    if not hist or not hist.get("autoencoder"):
        return None
    plt = _plt()
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ae = hist["autoencoder"]
    ax[0].plot([h["epoch"] for h in ae], [h["train_mse"] for h in ae], label="train")
    ax[0].plot([h["epoch"] for h in ae], [h["val_mse"] for h in ae], label="hold-out")
    ax[0].set(xlabel="epoch", ylabel="weighted MSE", title="stage 1: autoencoder")
    ax[0].legend()
    ft = hist.get("finetune") or []
    ax[1].plot([h["epoch"] for h in ft], [h["finetune_bce"] for h in ft])
    ax[1].set(xlabel="epoch", ylabel="BCE", title="stage 2: supervised fine-tuning")
    fig.tight_layout()
    fig.savefig(out / "training_loss.png", dpi=90)
    plt.close(fig)
    return "training_loss.png"


def _markdown(report: dict[str, Any], plots: dict[str, list[str]], loss: str | None) -> str:
    m = report["meta"]
    pol = report["policy"]
    parts = [
        "# gasleak detection-quality report",
        f"Command: `{m['command']}` (seed {m['seed']}, artifacts {m['artifacts_dir']} created "
        f"{m['manifest_created']}); took {m['seconds']} s on {m['cpu_count']} CPUs, load "
        f"average at the end {', '.join(f'{x:.2f}' for x in m['load_average_at_end'])}.",
        f"Alerts: the service's policy on every detector's window scores (raise at p >= "
        f"{pol['raise_p']} for {pol['raise_n']} windows spanning >= "
        f"{pol.get('raise_min_s', 0.0):g} s"
        + (
            f" or for {pol['dense_k']} of the last {pol['dense_n']} windows"
            if pol.get("dense_k")
            else ""
        )
        + f", clear below {pol['clear_p']} for "
        f"{pol['clear_n']} windows and {pol.get('off_delay_s', 0.0):g} s). Window "
        f"precision/recall/F1 at p >= {pol['raise_p']}. Delays from "
        "leak onset to the alert. n/a: the figure does not apply. Every device is replayed "
        "as the service runs it: fresh device, real timestamps, signal model from row 0 and "
        "held while an alert is open, the evidence gate keeping an open alert from clearing.",
        "## Summary",
        comparison_text(report),
        "## False alarms on every clean stretch",
        "Cells: alerts raised or re-announced as `recurred` (95 % upper bound per 1,000 "
        "device-hours: rule of three when 0, exact Poisson otherwise). Notes: "
        + "; ".join(f"{r['name']}: {r['note']}" for r in report["clean_stretches"] if r["note"])
        + ".",
        clean_table(report),
        "## Real events",
        "Delay from the labelled onset to the first alert raised (or re-announced as "
        "`recurred`) at or after it; 'open at end': an alert still open at the last "
        "reading. Notes: "
        + "; ".join(f"{r['name']}: {r['note']}" for r in report["events"] if r["note"])
        + ".",
        events_table(report),
    ]
    for name, e in report["datasets"].items():
        parts += [f"## {name}", e["description"] + ".", bench_table(e["detectors"])]
        descr = e["detector_descriptions"].items()
        parts.append("Detectors: " + "; ".join(f"`{k}`: {v}" for k, v in descr) + ".")
        bands = {d: f.get("event_recall_by_band") for d, f in e["detectors"].items()}
        if any(bands.values()):
            keys = list(next(b for b in bands.values() if b))
            parts.append(
                "Event recall by leak amplitude (background standard deviations; "
                "events per band in brackets):\n\n| detector | "
                + " | ".join(keys)
                + " |\n"
                + "|---" * (len(keys) + 1)
                + "|\n"
                + "\n".join(
                    f"| {d} | "
                    + " | ".join(f"{fmt(b[k]['recall'])} ({b[k]['events']})" for k in keys)
                    + " |"
                    for d, b in bands.items()
                    if b
                )
            )
        parts += [f"![{p}]({p})" for p in plots.get(name, [])]
    sc = report["scale_invariance"]
    rows = [
        f"| {lab} | {d} | {v['mean_abs_score_change']} | {v['windows_decision_flipped']} | "
        f"{fmt(v['event_recall'])} | {fmt(v['false_alarms_per_1000h'])} |"
        for lab, per in sc.items()
        if lab != "benchmark"
        for d, v in per.items()
    ]
    parts += [
        "## Sensor-scale independence",
        f"On `{sc['benchmark']}`, the gas channel multiplied by 10 and shifted by its "
        "median, scores compared with the original (the model sees gas relative to the "
        "device's own online clean-air level and noise scale, `app/ml/signal.py`).",
        "| change | detector | mean abs score change | windows decision flipped | "
        "event recall | false alarms /1000 h |\n|---|---|---|---|---|---|\n" + "\n".join(rows),
    ]
    lodo = report.get("lodo")
    if lodo:
        parts += [
            "## Leave-one-dataset-out",
            f"Each dataset left out of training in turn (LSTM {lodo['autoencoder_epochs']}"
            f" autoencoder + {lodo['finetune_epochs']} fine-tuning epochs; the shipped "
            f"model has more; pure SVM in full; training seed {lodo['train_seed']}, "
            f"leak seed {lodo['seed']}, computed {lodo['computed']}"
            + f"; from `lodo.json`, written by `{lodo.get('command', '--lodo')}`"
            + "): false alarms on its clean "
            "stretches, injected leaks on its background ("
            + ", ".join(
                f"{k}: `{v['benchmark']}`, {v['train_windows']:,} training "
                f"windows, {v['seconds_total']:.0f} s"
                for k, v in lodo["datasets"].items()
            )
            + ").",
            lodo_note(lodo).strip(),
            lodo_table(lodo),
        ]
    if loss:
        parts += ["## Training loss", f"![{loss}]({loss})"]
    return "\n\n".join(parts) + "\n"


def card_section(report: dict[str, Any]) -> str:
    """The model card's evaluation section: the figures tables, without timings."""
    parts = [
        "## Evaluation (from the report of `python main.py --mode evaluate`)",
        f"Seed {report['meta']['seed']}; alerts through the service's policy (0.7 x 3 "
        f"windows over >= {report['policy'].get('raise_min_s', 0.0):g} s raise, 0.3 x 10 "
        "clear). Window figures at p >= 0.7.",
    ]
    parts += ["### Clean stretches", clean_table(report), "### Real events", events_table(report)]
    for name, e in report["datasets"].items():
        parts += [f"### {name}", e["description"] + ".", bench_table(e["detectors"])]
    return "\n\n".join(parts)


def write_report(
    report: dict[str, Any], raws: dict[str, Any], manifest: dict[str, Any], out: Path
) -> None:
    """Write report.json, the PNGs and report.md into ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, list[str]] = {}
    for name, entry in raws.items():
        plots[name] = [
            plot_roc_pr(name, entry, out),
            plot_timeline(name, entry, out),
            plot_confusion(name, report["datasets"][name]["detectors"], out),
        ]
    loss = plot_loss(manifest, out)
    report["plots"] = {**plots, "training_loss": loss}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(_markdown(report, plots, loss))


def rerender(out: Path, readme: Path | None = None) -> dict[str, Any]:
    """Rewrite ``out/report.md`` (and README's tables when ``readme`` is given) from
    ``out/report.json``, with the LODO figures of ``out/lodo.json`` when present; no
    detector is re-run and the PNGs are kept. Returns the updated report (also written back
    to report.json). ``python -m app.training.eval_report DIR [README]``."""
    from app.training.report_tables import update_readme

    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    lodo = out / "lodo.json"
    if lodo.is_file():
        report["lodo"] = json.loads(lodo.read_text())
    plots = {k: v for k, v in report.get("plots", {}).items() if k != "training_loss"}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(
        _markdown(report, plots, report.get("plots", {}).get("training_loss"))
    )
    if readme is not None:
        update_readme(readme, report)
    return report


if __name__ == "__main__":
    import sys

    rerender(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
