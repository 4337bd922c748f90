"""The evaluation's replay equals the service's reading-by-reading loop (signal model held
while an alert is open), and the statistical baseline behaves as specified."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.alerting.leak import STILL_ABOVE_READINGS, AlertPolicy, PolicyConfig
from app.ml.features import evidence
from app.ml.signal import DeviceSignal, SignalConfig
from app.training.online_replay import StatDetector, replay
from app.training.reference_detectors import Detector, RobustZ, RobustZConfig

CFG = SignalConfig()


def z_score(w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A signal-dependent window score: sigmoid(z - 6) of the last reading, gated."""
    z = (w[:, -1, 0].astype(np.float64) - b[:, 0]) / b[:, 1]
    return 1 / (1 + np.exp(-(z - 6))), evidence(w, b, CFG)


DET = Detector("z", z_score, "test")


def series_with_leaks(n: int = 3000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = 400 + rng.normal(0, 3, n)
    g[800:1400] += 600  # a long leak: the hold matters while it is open
    g[2000:2100] += np.linspace(0, 900, 100)
    g[2300] = 0.0  # a glitch
    return np.column_stack([g, np.full(n, 21.0), np.full(n, 45.0)])


def naive(series: np.ndarray, ts: np.ndarray, policy: PolicyConfig) -> tuple[list, list, list]:
    """The service's loop, one reading at a time (as ``AlertSink``: an open alert stays
    while the median of the last readings stands far above the level kept at its raise, and
    its all-clear moves the held level up to that median)."""
    sig, pol = DeviceSignal(CFG), AlertPolicy(policy, "t")
    raised, scores, worsened = [], [], []
    for i in range(len(series)):
        row = [float(v) for v in series[i]]
        _, level, scale, t_level, rh_level = sig.learn_one(row[0], float(ts[i]), row[1], row[2])
        if i < 59 or not math.isfinite(level):
            continue
        p, g = z_score(
            series[None, i - 59 : i + 1].astype(np.float32),
            np.array([[level, scale, t_level, rh_level]]),
        )
        st = pol.open_alert("d")
        recent = float(np.median(series[max(0, i + 1 - STILL_ABOVE_READINGS) : i + 1, 0]))
        above = st is not None and st.still_above(recent, CFG.z_hold, CFG.min_log_ratio)
        ev = pol.update(
            "d",
            float(p[0]),
            float(ts[i]),
            row[0],
            elevated=bool(g[0]) or above,
            level=level,
            scale=scale,
            gas_level=recent,
        )
        if ev and ev.type == "alert.raised":
            raised.append(i)
        if ev and ev.reason == "worsened":
            worsened.append(i)
        scores.append(float(p[0]))
        sig.hold(pol.open_alert("d") is not None)
        if ev and ev.type == "alert.resolved":
            sig.rebase(recent)  # as AlertSink: the held level catches up at the all-clear
    return raised, scores, worsened


@pytest.mark.parametrize("chunk", [7, 256, 5000])
def test_chunked_replay_equals_reading_by_reading(chunk: int) -> None:
    s = series_with_leaks()
    ts = np.arange(len(s), dtype=float)
    want_raised, want_scores, want_worse = naive(s, ts, PolicyConfig())
    run = replay(DET, s, ts, PolicyConfig(), CFG, chunk=chunk)
    assert run.raised.tolist() == want_raised
    assert len(want_raised) >= 2
    assert run.worsened.tolist() == want_worse and len(want_worse) >= 1  # the ramp
    np.testing.assert_allclose(run.scores, want_scores, rtol=1e-6, atol=1e-9)
    # the long leak keeps its alert open to its end (level held), then clears
    assert run.active[run.ends == 1399].all() and not run.active[-1]


def test_stat_baseline_quiet_on_noise_and_glitch_fires_on_a_step() -> None:
    rng = np.random.default_rng(1)
    g = 420 + rng.normal(0, 2, 2000)
    g[500] = 0.0
    s = np.column_stack([g, np.full(2000, 21.0), np.full(2000, 45.0)])
    det = StatDetector("stat", RobustZConfig(), "test")
    ts = np.arange(2000.0)
    assert len(replay(det, s, ts, PolicyConfig()).raised) == 0
    s[1000:, 0] += 200  # a persistent step: raised once, held open (baseline frozen)
    run = replay(det, s, ts, PolicyConfig())
    assert run.raised.tolist() == [1008] and run.active[-1]  # 9 windows: the 8 s alarm delay


def test_robust_z_warmup_floor_and_hold() -> None:
    rz = RobustZ(RobustZConfig(warmup=5, history=10))
    for _ in range(4):
        assert math.isnan(rz.learn_one(400.0)[0])
    rz.learn_one(400.0)
    # MAD 0: the scale is the 1 % floor of the median (4 ppm)
    assert rz.score_one(440.0) == pytest.approx(10.0)
    rz.hold(True)
    for _ in range(20):
        rz.learn_one(900.0)
    assert rz.score_one(440.0) == pytest.approx(10.0)
    p = rz.probability(np.array([6.0, np.nan, 0.0]))
    assert p[0] == pytest.approx(0.7) and p[1] == 0.0 and p[2] < 0.3


def test_leak_scores_runs_the_model_on_gated_windows_only() -> None:
    """The model's probability where the gate is open, 0 elsewhere, as if the whole batch
    had been scored; the model sees only the gated windows. The evaluation's detector
    (``gated_model``) is the same function."""
    from app.ml.features import evidence
    from app.ml.predictor import leak_scores
    from app.training.reference_detectors import gated_model

    seen: list[int] = []

    class Pred:  # a per-window model: probability from the window's mean gas
        signal_cfg = CFG

        def leak_probability(self, w: np.ndarray, b: np.ndarray) -> np.ndarray:
            seen.append(len(w))
            return 1 / (1 + np.exp(-(w[:, :, 0].mean(1) - b[:, 0]) / 50))

    rng = np.random.default_rng(0)
    w = (400 + rng.normal(0, 3, (200, 60, 3))).astype(np.float32)
    w[::3, -5:, 0] += 300
    b = np.tile([400.0, 4.0], (200, 1))
    gate = evidence(w, b, CFG)
    full = Pred().leak_probability(w, b)
    seen.clear()
    p, g = leak_scores(Pred(), w, b)
    assert seen == [67] and (g == gate).all() and g.sum() == 67
    np.testing.assert_allclose(p, np.where(gate, full, 0.0))
    p2, g2 = gated_model(Pred())(w, b)
    np.testing.assert_array_equal(p2, p)
    seen.clear()
    p3, _ = leak_scores(Pred(), w[1::3], b[1::3])  # clean only: no model call
    assert seen == [] and not p3.any()


def test_a_data_gap_mid_leak_does_not_clear_the_open_alert() -> None:
    """A gap restarts the signal model, which then learns its level from the leak (the
    newcomer's 'all clear' at 4,000 ppm); the level kept with the alert keeps it open until
    the gas is back near 400 ppm. Shipped model, as the service runs it."""
    from pathlib import Path

    from app.ml.predictor import load_predictor
    from app.training.reference_detectors import gated_detector

    pred = load_predictor(Path(__file__).resolve().parents[2] / "artifacts", device="cpu")
    rng = np.random.default_rng(1)
    parts = [(400.0, 900), (4000.0, 600), (4000.0, 900), (400.0, 900)]
    gas = np.concatenate([v + rng.normal(0, 3, n) for v, n in parts])
    ts = np.arange(len(gas), dtype=float)
    ts[1500:] += 400.0  # a 400 s gap in the readings after 10 min of leak
    series = np.c_[gas, np.full(len(gas), 21.0), np.full(len(gas), 45.0)]
    run = replay(gated_detector("lstm_svm", pred, ""), series, ts, PolicyConfig(), pred.signal_cfg)
    assert len(run.raised) == 1 and 900 <= run.raised[0] < 960, run.raised
    leak_rows = (run.ends >= run.raised[0]) & (run.ends < 2400)
    assert run.active[leak_rows].all()  # open through the gap and the restart's warm-up
    assert not run.active[run.ends >= 3000].any()  # cleared once back near 400 ppm
