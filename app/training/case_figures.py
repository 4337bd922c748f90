"""Figures of the named cases (``app.training.real_cases``): false alarms on each clean
stretch, detection on each event, every detector replayed as the service would."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.alerting.leak import PolicyConfig
from app.ml.signal import SignalConfig
from app.training.online_replay import AnyDetector, Run, replay
from app.training.quality import false_alarms_per_1000h
from app.training.real_cases import NamedCase, upper_95_per_1000h


def clean_figures(case: NamedCase, run: Run) -> dict[str, Any]:
    """False alarms (alerts raised, or re-announced as ``recurred``) on a clean stretch,
    the hours covered, the rate and its 95 % upper bound per 1,000 device-hours, and the
    share of scored rows in alert."""
    n, h = int(len(run.announced)), case.device_hours
    return {
        "false_alarms": n,
        "device_hours": round(h, 3),
        "per_1000h": false_alarms_per_1000h(n, h),
        "upper_95_per_1000h": upper_95_per_1000h(n, h),
        "time_in_alert": round(float(run.active.mean()), 4) if len(run.active) else 0.0,
    }


def event_figures(case: NamedCase, run: Run) -> dict[str, Any]:
    """Detected (an alert raised, or re-announced as ``recurred``, at or after the labelled
    onset), delay from the onset in seconds (timestamps), such announcements before the
    onset, and whether an alert is still open at the last reading;
    ``time_in_alert_after_onset`` the share of scored rows from the onset on with an alert
    open."""
    on = int(case.onset or 0)
    told = run.announced
    after = told[told >= on]
    delay = float(case.ts[after[0]] - case.ts[on]) if len(after) else None
    post = run.ends >= on
    return {
        "detected": bool(len(after)),
        "delay_s": delay,
        "alerts_before_onset": int((told < on).sum()),
        "open_at_end": bool(run.active[-1]) if len(run.active) else False,
        "time_in_alert_after_onset": round(float(run.active[post].mean()), 4)
        if post.any()
        else None,
    }


def run_cases(
    cases: list[NamedCase],
    dets: Mapping[str, AnyDetector],
    policy: PolicyConfig,
    sig_cfg: SignalConfig | None,
) -> list[dict[str, Any]]:
    """One row per case: name, dataset, group, note, device_hours (and onset time for
    events), and per detector the clean or event figures."""
    rows = []
    for c in cases:
        row: dict[str, Any] = {
            "name": c.name,
            "dataset": c.dataset,
            "group": c.group,
            "note": c.note,
            "device_hours": round(c.device_hours, 3),
            "detectors": {},
        }
        for name, det in dets.items():
            r = replay(det, c.series, c.ts, policy, sig_cfg)
            row["detectors"][name] = clean_figures(c, r) if c.onset is None else event_figures(c, r)
        rows.append(row)
    return rows


def clean_totals(rows: list[dict[str, Any]], group: str = "real") -> dict[str, Any]:
    """Per detector, summed over the clean stretches of ``group``: false alarms, hours,
    rate and 95 % upper bound per 1,000 device-hours, stretches with any false alarm."""
    sel = [r for r in rows if r["group"] == group]
    out: dict[str, Any] = {}
    for d in sel[0]["detectors"] if sel else []:
        n = sum(r["detectors"][d]["false_alarms"] for r in sel)
        h = sum(r["detectors"][d]["device_hours"] for r in sel)
        out[d] = {
            "false_alarms": n,
            "device_hours": round(h, 3),
            "per_1000h": false_alarms_per_1000h(n, h),
            "upper_95_per_1000h": upper_95_per_1000h(n, h),
            "stretches_with_alarms": sum(r["detectors"][d]["false_alarms"] > 0 for r in sel),
            "stretches": len(sel),
        }
    return out
