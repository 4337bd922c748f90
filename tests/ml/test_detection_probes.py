"""The synthetic sensors of ``bench.detection_probe`` through the shipped model, as the
service runs it: every clean probe raises no leak alert, every leak probe raises one. (A
change to the warm-up's spike fence once raised two false alarms on the floored-methane
probe, and only a manual run of the script showed it.) The "limit:" probes are reported by
the script and README, not asserted: they are where the detector is known to stop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.config import Settings
from app.ml.predictor import load_predictor
from bench.detection_probe import alerts, cases, cycles, episodes, probe_run

CASES = cases(np.random.default_rng(7))  # the script's seed


@pytest.fixture(scope="module")
def pure_svm():
    return load_predictor(Path(Settings().artifacts_dir), device="cpu", use_torch=False)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_clean_probes_raise_nothing_and_leaks_raise_an_alert(
    model: str, shipped_predictor, pure_svm
) -> None:
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    got = {
        name: alerts(pred, np.asarray(g, float), t, h)
        for name, (g, t, h) in CASES.items()
        if not name.startswith("limit:")
    }
    false = {k: v for k, v in got.items() if k.startswith("clean:") and v}
    missed = [k for k, v in got.items() if k.startswith("leak:") and len(v) != 1]
    assert len(got) >= 14
    assert not false, f"false leak alarms: {false}"
    assert not missed, f"leaks not raised once: {missed}: {got}"


@pytest.mark.slow
def test_a_leak_alert_on_a_floored_sensor_resolves_when_the_gas_returns(
    shipped_predictor,
) -> None:
    """A methane sensor at 0 ppm (noise sd 2, floored): 0 -> 500 ppm for 10 min raised its
    alert, which never resolved: ~11 % of clean single readings stood above the bound kept at
    the raise, restarting the clear count (newcomer). The still-above test now takes the
    median of the last readings: the alert resolves within two minutes of the gas returning,
    and stays open while the gas stays up."""
    from app.alerting.configure import policy_config
    from app.training.online_replay import replay
    from app.training.reference_detectors import gated_detector

    det = gated_detector("g", shipped_predictor, "")
    pol = policy_config(Settings())
    rng = np.random.default_rng(2)
    gas = np.r_[
        np.maximum(0, rng.normal(0, 2, 1200)),
        500 + rng.normal(0, 5, 600),
        np.maximum(0, rng.normal(0, 2, 1800)),
    ]
    series = np.c_[gas, np.full(len(gas), 21.0), np.full(len(gas), 45.0)]
    run = replay(det, series, np.arange(len(gas), dtype=float), pol, shipped_predictor.signal_cfg)
    active = np.asarray(run.ends)[np.asarray(run.active)]
    assert len(run.raised) == 1 and 1200 <= run.raised[0] < 1230
    assert active.min() < 1800 <= active.max() < 1800 + 120, (active.min(), active.max())


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_leak_that_goes_on_stays_open_while_a_cycling_background_falls_under_it(
    model: str, shipped_predictor, pure_svm
) -> None:
    """Newcomer of 1 Dec: a leak raised at the top of a clean cycle (+500 ppm on a ±15 %
    2-h sine; +200 ppm on a ±15 % 20-min HVAC square wave) closed "all clear" 34 and 10 min
    later while it went on, once the background under it fell: the still-above test used the
    raise's own bounds. With its hysteresis (half of them) the alert stays open to the end;
    the clean ±25 % cycle still raises nothing."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    for name, (g, t, h) in cycles(np.random.default_rng(9)).items():
        raised, resolved = episodes(pred, np.asarray(g, float), t, h)
        if name.startswith("clean:"):
            assert raised == [], name
        elif name.startswith("leak persists:"):
            assert len(raised) == 1 and resolved == [], (name, raised, resolved)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_sensor_at_its_0_ppm_floor_raises_nothing_over_many_seeds(
    model: str, shipped_predictor, pure_svm
) -> None:
    """Newcomer of 1 Dec: a clean methane sensor at 0 ppm (noise sd 2 ppm, floored) raised
    critical leak alerts at readings of 2-5 ppm, 5 in 20 seeded runs of 1.5 h here: near a
    0 level the +22 % bound is met by any such reading, and about 2.5 % of clean windows pass
    the 4-scale bound by design. At the floor the scale bound doubles
    (:data:`app.ml.features.FLOOR_Z_FACTOR`); a 0 -> 500 ppm leak is still raised (the
    probes above)."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    n, raised = 5400, {}
    for seed in range(20):
        g = np.maximum(0.0, np.random.default_rng(seed).normal(0, 2, n))
        a, _ = episodes(pred, g, np.full(n, 21.0), np.full(n, 45.0))
        if a:
            raised[seed] = a
    assert not raised, raised


@pytest.mark.slow
def test_clean_waves_up_to_12_percent_raise_nothing_from_any_warm_up_phase(
    shipped_predictor,
) -> None:
    """The named +-25 ppm wave widened (``bench.detection_probe.wave_grid``): a fresh device
    whose one-minute warm-up saw a slow wave on its way down learned its level at the trough,
    and +-50 ppm on a 3-min period raised two leak alerts (8 of the grid's 210 waves raised);
    the settling period learns such a wave. Waves of +-25 % and more still raise at their
    first peak and are not asserted."""
    from bench.detection_probe import wave_grid

    lines = wave_grid(shipped_predictor)
    small = [x for x in lines if x.split(" * ")[0].endswith((" 25", " 50"))]
    assert not small, small
    assert len(lines) <= 4, lines


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_spiky_mox_sensor_learns_its_bursts_and_still_raises_a_leak(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A 10-s MOX sensor (sd 15 %) with 1-3-reading spikes at 2-4x raised 10-15 critical
    leak alerts in 14 h, one per 3-reading spike (newcomer of 1 Dec 06:40). The policy's
    learned debounce (``PolicyConfig`` ``burst_*``) leaves at most the first burst of each
    length: at most 2 alerts per 14-h device over 4 seeds; a doubling of the gas on it is
    still raised within 10 readings (100 s)."""
    from bench.detection_probe import spiky_mox

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    for seed in range(4):
        raised = alerts(pred, *spiky_mox(np.random.default_rng(seed)), dt=10.0)
        assert len(raised) <= 2, f"seed {seed}: alerts at rows {raised}"
        leak = alerts(pred, *spiky_mox(np.random.default_rng(seed), 11.0, 10.0), dt=10.0)
        late = [r - 3600 for r in leak if r >= 3600]
        assert late and late[0] <= 10, f"seed {seed}: the leak raised at {late}"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_wide_clean_cycle_raised_while_settling_alarms_twice_not_at_every_peak(
    model: str, shipped_predictor, pure_svm
) -> None:
    """+-25-37 % clean cycles with a 3-6 min period whose warm-up saw their way down raised a
    leak alert at every peak, 4-10 in the hour: the open alert held the signal model, so no
    peak was learned. Two alike held excursions while settling are now learned
    (``SignalConfig.settle_recur_log_ratio``): at most 2 alerts in the hour."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    i = np.arange(3600)
    t, h = np.full(3600, 22.0), np.full(3600, 45.0)
    waves = {
        f"{base} + {amp} * -sin(i / 30)": base + amp * -np.sin(i / 30)
        for base in (400, 420)
        for amp in (100, 150)
    }
    waves["400 + 100 sin, 6.3 min"] = 400 + 100 * np.sin(i / 60 + 3.93)
    got = {name: alerts(pred, g, t, h) for name, g in waves.items()}
    assert all(len(v) <= 2 for v in got.values()), got


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_leak_in_puffs_minutes_apart_is_one_alert_not_one_per_puff(
    model: str, shipped_predictor, pure_svm
) -> None:
    """x3 puffs for 20 s every 2 min, or 30 s every 5 min, for an hour raised one alert per
    puff, 30 and 12 (newcomer of 1 Dec 11:00). The chatter rule, set to 600 s (off by
    default), keeps the second alert open through the gaps: 2 alerts, the first raised 9 s
    into the first puff, each later puff the open alert's ``recurred`` update; off, one
    alert per puff as before."""
    import dataclasses

    from app.alerting.configure import evaluation_policy
    from bench.detection_probe import puff_train

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    on = dataclasses.replace(evaluation_policy(), chatter_window_s=600.0)
    for on_s, every_s, puffs in ((20, 120, 30), (30, 300, 12)):
        train = puff_train(np.random.default_rng(5), on_s, every_s)
        run = probe_run(pred, *train, pol=on)
        raised = run.raised.tolist()
        assert len(raised) == 2 and raised[0] == 1809, (on_s, every_s, raised)
        assert len(run.recurred) == puffs - 2  # every later puff is told, not a new alert
        assert len(episodes(pred, *train)[0]) == puffs


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_clean_air_that_wandered_up_during_a_leak_raises_no_second_alert(
    model: str, shipped_predictor, pure_svm
) -> None:
    """The level is held while a leak alert is open; clean air that wandered up meanwhile
    (370 -> 400 ppm under a 30-min x2 leak, then on to 470 over 40 min) stood far above it
    once the alert closed, and a second critical leak alert was raised on clean air, still
    open at the end (6 of 6 seeds; newcomer of 1 Dec 14:10 on a report-on-change device).
    At the all-clear the held level now moves up to the gas then (``SignalStates.rebase``)."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    for seed in range(3):
        rng = np.random.default_rng(seed)
        bg = np.r_[
            np.full(3600, 370.0),
            np.linspace(370, 400, 1800),
            np.linspace(400, 470, 2400),
            np.full(1200, 470.0),
        ]
        g = bg + rng.normal(0, 3, len(bg))
        g[3600:5400] *= 2  # the leak
        n = len(g)
        run = probe_run(pred, g, np.full(n, 22.0), np.full(n, 45.0))
        assert run.raised.tolist() == [3609], (seed, run.raised.tolist())
        assert run.recurred.tolist() == [] and not run.active[-1], seed


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_one_off_clean_excursion_while_settling_does_not_hide_a_later_leak(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A fresh 1 Hz device at 400 ppm whose first minutes hold one clean excursion to +45 %
    (someone at the sensor as it was installed) learned it as its wander and kept a scale of
    a quarter of it for hours: a +28 % leak 35 min later was never raised. The excursion is
    forgotten once it has not recurred for 30 min; the leak is raised, and the excursion
    itself raises nothing."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    rng = np.random.default_rng(6)
    n = 3600
    gas = 400 + rng.normal(0, 3, n)
    gas[120:160] = 580.0 + rng.normal(0, 3, 40)
    gas[2100:] *= 1.28
    a = alerts(pred, gas, np.full(n, 22.0), np.full(n, 45.0))
    assert len(a) == 1 and 2100 <= a[0] <= 2160, a


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_clean_air_back_after_an_hour_at_0_raises_nothing_and_a_leak_after_is_raised(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A 1 Hz sensor at 420 ppm reads 0 for an hour, then clean air comes back over a
    minute: a critical leak alert 25 s after the return that never cleared (newcomer of
    2 Dec; 40-180 min dropouts and 0.6x dips alike). Now nothing, and a x1.5 leak 30 min
    later is raised."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    rng = np.random.default_rng(1)
    n = 1800 + 3600 + 3600
    f = np.ones(n)
    f[1800:5400] = 0.0
    f[5400:5460] = np.arange(60) / 60
    f[7200:] = 1.5
    gas = np.maximum(0.0, 420 * f + rng.normal(0, 4, n) * (f > 0))
    a = alerts(pred, gas, np.full(n, 21.0), np.full(n, 45.0))
    assert len(a) == 1 and 7200 <= a[0] <= 7260, a


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_breath_in_the_warm_up_or_a_short_bump_test_does_not_blind_the_device(
    model: str, shipped_predictor, pure_svm
) -> None:
    """An installer's breath on a new sensor (x3 over readings 35-55 of its warm-up) set its
    starting scale to the breath's height, and a commissioning bump test (x5 for 8 readings,
    3 min in: under the 8 s alarm delay) was learned while settling: either way a x2 leak in
    the next hour was never raised (newcomer of 2 Dec). Neither is learned now, and the
    breath and the bump raise nothing themselves."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    t, h = np.full(2400, 21.0), np.full(2400, 45.0)
    for a, b, mult in ((35, 55, 3.0), (200, 208, 5.0)):
        gas = 420 + np.random.default_rng(a).normal(0, 4, 2400)
        gas[a:b] *= mult
        gas[1200:] *= 2.0  # 20 min in
        got = alerts(pred, gas, t, h)
        assert len(got) == 1 and 1200 <= got[0] <= 1230, (a, got)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_leak_on_dipped_air_is_raised_and_a_preheat_placeholder_or_a_duty_cycle_is_not(
    model: str, shipped_predictor, pure_svm
) -> None:
    """Three kinds a newcomer found on 2 Dec in that day's first fixes:
    - a x2 leak on clean air that had dipped to 0.6x for an hour (504 ppm, 1.2x the level
      before the dip) was carried up as clean air coming back, and never raised;
    - an NDIR module reporting a constant 400 ppm placeholder while it preheats, then the
      room's 650 ppm, was taken for a leak in its warm-up (a critical alert that never
      cleared, at every power-on);
    - a 12-s x2 duty cycle every 2 min from the device's first minute (its warm-up holds
      one) raised an alert at every cycle (29 an hour), its short excursions never learned.
    """
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    rng = np.random.default_rng(0)
    n = 1800 + 3600 + 1200
    i = np.arange(n)
    dip = np.where(i < 1800, 420.0, 252.0) * np.where(i >= 5400, 2.0, 1.0)
    a = alerts(pred, dip + rng.normal(0, 4, n), np.full(n, 22.0), np.full(n, 45.0))
    assert len(a) == 1 and 5400 <= a[0] <= 5440, a
    t, h = np.full(3600, 22.0), np.full(3600, 45.0)
    j = np.arange(3600)
    preheat = np.where(j < 30, 400.0, 650.0 * (1 + 0.015 * rng.standard_normal(3600)))
    assert alerts(pred, preheat, t, h) == []
    duty = 420.0 * np.where(((j - 20) % 120 < 12) & (j >= 20), 2.0, 1.0) + rng.normal(0, 4, 3600)
    assert len(alerts(pred, duty, t, h)) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_sensor_unplugged_for_a_weekend_comes_back_to_no_alert(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A 1-min device whose gateway sends 0 ppm for 26 h or 48 h, then clean air at its old
    level: a critical leak alert 180 s after the return that never cleared (newcomer, 12 of
    12; the level before the fall was kept a day from the fall). It is kept until a day
    after the sensor is back; a x2 leak an hour after the return is raised."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    for hours in (26, 48):
        rng = np.random.default_rng(hours)
        n = 360 + 60 * hours + 360
        gas = 420 + rng.normal(0, 3, n)
        gas[360 : 360 + 60 * hours] = 0.0
        gas[-300:] *= 2.0
        t, h = np.full(n, 22.0), np.full(n, 45.0)
        raised, _ = episodes(pred, gas, t, h, 60.0)
        assert len(raised) == 1 and n - 300 <= raised[0] <= n - 295, (hours, raised)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_sensor_back_from_0_at_another_level_or_a_level_that_fell_for_good_sees_leaks(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A second newcomer of 3 Dec, on that day's first fix: a 10-s sensor back from 0 at
    0.6x of its old level, and a x2 leak an hour later (1.2x of the old level, under the
    gate's bound over it): never raised (0 of 18); and a 1-min device whose clean level fell
    to 0.2x for good was taken for a sensor at 0 with its old level kept for as long as it
    stayed there, so a x2 leak a day later was never raised (0 of 24). Both are raised, and
    the first clears when the leak ends."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    rng = np.random.default_rng(3)
    n = 6 * 360
    t10 = np.arange(n) * 10.0
    f = np.where(t10 < 3600, 1.0, np.where(t10 < 7200, 0.0, 0.6))
    f = f * np.where((t10 >= 3 * 3600) & (t10 < 4 * 3600), 2.0, 1.0)
    h = np.full(n, 45.0)
    raised, resolved = episodes(pred, 420 * f * (1 + 0.01 * rng.normal(size=n)), h * 0 + 22, h, 10)
    assert len(raised) == 1 and 1080 <= raised[0] <= 1090, raised
    assert len(resolved) == 1 and 1440 <= resolved[0] <= 1460, resolved
    m = 40 * 60
    t60 = np.arange(m) * 60.0
    f = np.where(t60 < 6 * 3600, 1.0, 0.2) * np.where(t60 >= 32 * 3600, 2.0, 1.0)
    g = 420 * f * (1 + 0.01 * rng.normal(size=m))
    raised, _ = episodes(pred, g, np.full(m, 22.0), np.full(m, 45.0), 60)
    assert len(raised) == 1 and 32 * 60 <= raised[0] <= 32 * 60 + 10, raised


@pytest.mark.parametrize("dt", [1.0, 15.0, 60.0])
def test_clean_air_back_from_a_learned_plateau_does_not_hide_a_leak(pure_svm, dt: float) -> None:
    """A plateau of clean air +18 % for an hour (people, an HVAC stage) becomes the level
    after 30 min (``plateau_s``); when the air comes back, the level goes back to its value
    from before the plateau. The regression newcomer of 6 Dec: the return was learned as a
    fall that kept the plateau's level for a day, and a x1.3 leak 30 min later, which lifts
    the gas near it, was taken for clean air coming back (never raised at 1-300 s)."""
    rng = np.random.default_rng(6)
    n = int(5 * 3600 / dt)
    t = np.arange(n) * dt
    f = np.where((t >= 3600) & (t < 7200), 1.18, 1.0) * np.where(t >= 9000, 1.3, 1.0)
    g = 420 * f * (1 + 0.01 * rng.normal(size=n))
    flat = np.full(n, 22.0)
    raised = alerts(pure_svm, g, flat, flat + 23.0, dt)
    assert len(raised) == 1 and 9000 <= raised[0] * dt <= 9000 + 4 * max(dt, 60), raised


def test_one_sensor_sample_held_for_ten_readings_raises_nothing_and_a_leak_is_raised(
    pure_svm,
) -> None:
    """A gateway polling every second a sensor that updates every 10 s sends each sample as
    10 identical readings: one +50 % sample passed the median of three and spanned the 8 s
    alarm delay, a critical leak alert per glitch (newcomer of 7 Dec: 47 in 24 clean
    device-hours). The gate now needs two samples up; a x2 leak on the same device is
    raised within a few samples."""
    from bench.field_kinds import announced, held

    ts, g, t, h = held(np.random.default_rng(0), 1.0, 10.0, amp=1.5, per_h=4.0, hours=3.0)
    assert announced(pure_svm, ts, g, t, h) == []
    ts, g, t, h = held(np.random.default_rng(1), 1.0, 10.0, per_h=0.0, hours=2.0)
    g[3600:] = np.round(g[3600:] * 2.0)
    raised = announced(pure_svm, ts, g, t, h)
    assert len(raised) == 1 and 3600 <= raised[0] <= 3600 + 40, raised


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_samples_sent_in_bursts_raise_no_more_than_one_sample_and_a_leak_still_does(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A gateway sending 3 samples 0.2 s apart every 30 s, clean 420 ppm with +25-40 % bumps
    of 40-90 s twice an hour (``bench.field_kinds --only bursts``): two bursts met the
    3-window rule and the 8 s alarm delay, 110 leak alerts in 72 device-hours (newcomer of
    9 Dec: 93-99; one sample per 30 s: 1-2). A sample of the same moment counts once now
    (``app.alerting.leak.SAME_SAMPLE_FRACTION``): at most 2 in a 24-h device, and a
    doubling of the gas is raised at its third burst (60 s)."""
    from bench.field_kinds import announced, burst_sampled

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    ts, g, t, h = burst_sampled(np.random.default_rng(1), 30.0)
    assert len(announced(pred, ts, g, t, h)) <= 2
    ts, g, t, h = burst_sampled(np.random.default_rng(0), 30.0, bumps_per_h=0.0)
    on = int(np.searchsorted(ts, 6 * 3600.0))
    g[on:] = np.round(g[on:] * 2)
    raised = [float(ts[r] - ts[on]) for r in announced(pred, ts, g, t, h)]
    assert raised == [60.0], raised


@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
@pytest.mark.parametrize("later", [2.5, 300.0])
def test_a_glitch_delivered_twice_on_a_slow_device_raises_nothing_and_a_leak_still_does(
    model: str, later: float, shipped_predictor, pure_svm
) -> None:
    """A 300-s device whose gateway delivers a reading twice: a retry after a timeout
    stamped on arrival (2.5 s later) or a failed poll that re-sends the value before (at the
    next poll). A one-sample x1.6 glitch so delivered passed the median of three for two
    readings, and two high windows raise a slow device's leak: a critical alert (newcomer of
    9 Dec: 12 of 12 glitches; ``bench.field_kinds --only resend``: 6 and 10 in 480 device-
    hours). The reading after a single repeat is lifted now (``STEADY_REPEATS``); a x1.5
    leak whose first reading is delivered twice is raised no later than one delivered once."""
    from bench.field_kinds import announced, resent

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    ts, g, t, h = resent(np.random.default_rng(3), 300.0, "retry", frac=0.0, per_6h=0, hours=30)
    on = int(np.searchsorted(ts, 24 * 3600.0))

    def again(gas: np.ndarray) -> tuple[np.ndarray, ...]:
        """The series with reading ``on`` delivered twice, ``later`` s after itself."""
        rows = [ts, gas, t, h]
        if later < 300.0:  # a retry: a copy between two readings
            rows = [np.insert(x, on + 1, x[on]) for x in rows]
            rows[0][on + 1] += later
        else:  # a failed poll: reading on + 1 re-sends reading on
            rows = [rows[0]] + [np.r_[x[: on + 1], x[on], x[on + 2 :]] for x in rows[1:]]
        return tuple(rows)

    glitch = g.copy()
    glitch[on] = round(glitch[on] * 1.6, 1)
    assert announced(pred, *again(glitch)) == []
    leak = g.copy()
    leak[on:] = np.round(leak[on:] * 1.5, 1)
    once = [float(ts[r] - ts[on]) for r in announced(pred, ts, leak, t, h)]
    ts2, *rest = again(leak)
    delivered_twice = [float(ts2[r] - ts2[on]) for r in announced(pred, ts2, *rest)]
    assert len(once) == 1 and once[0] < 601.0, once
    # the copy of a leak's first reading is a window more of it: raised no later
    assert len(delivered_twice) == 1 and delivered_twice[0] <= once[0], (delivered_twice, once)


@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_device_that_wakes_every_ten_minutes_is_scored_and_its_leak_raised(
    model: str, shipped_predictor, pure_svm
) -> None:
    """10 readings 1 s apart every 10 min (``bench.field_kinds --only wakeups``): every
    wake-up restarted the warm-up, so nothing was ever scored and a x2 leak raised nothing
    (newcomer of 10 Dec). Now clean air raises nothing and the leak is raised in the
    wake-up it starts in."""
    from bench.field_kinds import announced, wakeups

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    assert announced(pred, *wakeups(np.random.default_rng(1), 10, 600.0)) == []
    ts, g, t, h = wakeups(np.random.default_rng(0), 10, 600.0, x=2.0)
    raised = [float(ts[r]) - 6 * 3600.0 for r in announced(pred, ts, g, t, h)]
    assert len(raised) == 1 and 0.0 <= raised[0] <= 20.0, raised


@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_device_that_wakes_every_fifteen_minutes_follows_an_offices_day(
    model: str, shipped_predictor, pure_svm
) -> None:
    """5 readings 1 s apart every 15 min in an office whose days reach +40 %
    (``bench.field_kinds --only wakeups``): each pause counted as one 1-s reading interval,
    so the level learned a day in 8 min of reading time, stayed at the night's 450 ppm, and
    the second and third days raised critical leak alerts (newcomer of 2 Dec: 6-12 in 503
    device-hours). The pause is reading time now."""
    from bench.field_kinds import announced, wake_office

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    assert announced(pred, *wake_office(np.random.default_rng(0), 5, 900.0, days=3.0)) == []


@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_leak_that_lasts_days_in_a_rooms_ordinary_day_stays_open(
    model: str, shipped_predictor, pure_svm
) -> None:
    """A x1.3 / x1.5 leak on a 60-s device for 3 days, the room's day moving the clean gas
    ±3-5 %, T ±3 °C and RH ∓8 %RH (``bench.field_kinds --only days``): the gas came down
    10 % at a daily trough, the day's whole ambient change then explained what was left, and
    the alert closed "all clear" 7-34 h after its raise with the gas still up, never raised
    again (newcomer of 10 Dec). The whole change explains only once the gas has come down
    half of the alert's rise from the level it announced (``RECEDE_SHARE``): open to the
    end, also on a ±8 % day (that one closed measured from the highest level seen)."""
    from app.alerting.configure import evaluation_policy
    from app.training.online_replay import replay
    from app.training.reference_detectors import gated_detector
    from bench.field_kinds import daily_leak

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    for x, cycle, seed in ((1.3, 0.03, 0), (1.3, 0.03, 1), (1.5, 0.05, 0), (1.5, 0.08, 0)):
        ts, g, t, h = daily_leak(np.random.default_rng(seed), x, cycle, 3.0, 8.0)
        run = replay(
            gated_detector("d", pred, ""), np.c_[g, t, h], ts, evaluation_policy(), pred.signal_cfg
        )
        on = np.flatnonzero(run.active)
        assert len(on) and ts[run.ends[on[0]]] - 6 * 3600 <= 600, (x, cycle, seed)
        assert run.active[on[0] :].all(), (
            x,
            cycle,
            seed,
            ts[run.ends[on[0] :][~run.active[on[0] :]][0]],
        )


@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_an_aspirated_zone_that_warms_up_in_each_dwell_is_not_taken_for_a_rhythm(
    model: str, shipped_predictor, pure_svm
) -> None:
    """120-s dwells at 1 Hz every 16-32 min whose first 40 s are purge air at 0.6x
    (``bench.field_kinds --only lowstart``): its pauses are alike, but it warms up in each
    dwell, so each pause restarts it as before (the recurring-pause rule without that
    condition kept the purge air learned in the first dwell as the level, and the zone's
    alert cleared at every purge and came back: 27 alerts in 12 h; the open low-start fault
    leaves one)."""
    from bench.field_kinds import announced, aspirated

    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    assert len(announced(pred, *aspirated(np.random.default_rng(0), 40.0))) <= 1
