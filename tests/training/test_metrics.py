"""Metric functions on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from app.alerting.leak import PolicyConfig
from app.training.quality import (
    alert_rows,
    delay_stats,
    false_alarms_per_1000h,
    match_events,
    policy_alerts,
    recall_by_band,
    window_scores,
)


def test_window_scores_hand_computed() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([0.9, 0.8, 0.2, 0.75, 0.1, 0.3, 0.6, 0.7])
    f = window_scores(y, p, thr=0.7)
    # predicted 1 at 0, 1, 3, 7 -> tp 3 (0, 1, 7), fp 1 (3), fn 1 (2), tn 3
    assert (f["tp"], f["fp"], f["fn"], f["tn"]) == (3, 1, 1, 3)
    assert f["window_precision"] == 0.75 and f["window_recall"] == 0.75
    assert f["window_f1"] == 0.75
    # ROC-AUC: of 16 (pos, neg) pairs the positive scores higher in 4 + 4 + 1 + 3 = 12
    assert f["roc_auc"] == 0.75


def test_window_scores_single_class_has_no_auc() -> None:
    f = window_scores(np.zeros(4, int), np.array([0.1, 0.9, 0.2, 0.3]), 0.5)
    assert f["roc_auc"] is None and f["window_f1"] == 0.0 and f["fp"] == 1


def test_policy_alerts_debounce_and_hysteresis() -> None:
    # the learned debounce off (burst_max_windows 0): the first alert's 3-window run is a
    # burst that would ask 6 windows of the second (tests/alerting/test_leak.py)
    cfg = PolicyConfig(
        raise_p=0.7, raise_n=3, clear_p=0.3, clear_n=2, raise_min_s=0.0, burst_max_windows=0
    )
    p = np.array([0.8, 0.8, 0.1, 0.8, 0.9, 0.95, 0.5, 0.2, 0.2, 0.9, 0.9, 0.9])
    ends = np.arange(100, 112)
    raised, active = policy_alerts(p, ends, cfg)
    assert raised.tolist() == [105, 111]  # 3rd of 3 high windows; again after 2 lows
    assert active.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1]
    assert alert_rows(p, ends, cfg).tolist() == [105, 111]


def test_match_events_and_delays() -> None:
    raised = np.array([5, 130, 260, 900])
    d = match_events([100, 250, 500], [200, 300, 600], raised, grace=60)
    assert d.tolist() == [30, 10, -1]  # third: nothing in [500, 660)
    s = delay_stats(d, dt_s=2.0)
    assert s["delay_median_readings"] == 20.0 and s["delay_median_s"] == 40.0
    assert s["delay_p90_readings"] == pytest.approx(28.0)  # 10 + 0.9 * (30 - 10)
    assert delay_stats(np.array([-1, -1]), 1.0)["delay_median_s"] is None


def test_alert_after_event_and_grace_is_not_a_detection() -> None:
    assert match_events([0], [10], np.array([70]), grace=60).tolist() == [-1]
    assert match_events([0], [10], np.array([69]), grace=60).tolist() == [69]


def test_false_alarm_rate_and_bands() -> None:
    assert false_alarms_per_1000h(3, 1500.0) == 2.0
    assert false_alarms_per_1000h(0, 0.0) is None
    b = recall_by_band(
        np.array([1, 0, 1, 1, 0], bool), np.array([0.5, 2, 2.5, 5, 50]), (0.0, 1.0, 3.0, 10.0)
    )
    assert b == {
        "0-1 sd": {"events": 1, "recall": 1.0},
        "1-3 sd": {"events": 2, "recall": 0.5},
        "3-10 sd": {"events": 1, "recall": 1.0},
        ">=10 sd": {"events": 1, "recall": 0.0},
    }
