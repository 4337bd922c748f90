from __future__ import annotations

import numpy as np
import pytest

from app.ml.features import (
    CHANNELS,
    WINDOW,
    WINDOW_FEATURE_NAMES,
    fit_norm,
    make_windows,
    preprocess,
    window_features,
)

from .conftest import synthetic_windows


def test_preprocess_shape_dtype_and_no_mutation() -> None:
    w, b, _ = synthetic_windows(5, 0)
    w0 = w.copy()
    norm = fit_norm(w)
    x = preprocess(w, b, norm)
    assert x.shape == (5, WINDOW, len(CHANNELS)) and x.dtype == np.float32
    np.testing.assert_array_equal(w, w0)
    assert abs(float(x[:, :, 2].mean())) < 1e-4 and abs(float(x[:, :, 2].std()) - 1) < 1e-3


def test_preprocess_gas_channels_are_log_ratio_and_noise_scales() -> None:
    w = np.zeros((1, WINDOW, 3), np.float32)
    w[0, :, 0] = 801.0
    w[0, 30, 0] = 0.0  # one glitch: filtered away
    norm = {"temperature_dev_std": 1.0, "humidity_dev_std": 1.0}
    x = preprocess(w, np.array([[400.0, 4.0]]), norm)
    np.testing.assert_allclose(x[0, :, 0], np.log(802 / 401), rtol=1e-6)
    np.testing.assert_allclose(x[0, :, 1], np.arcsinh(401 / 4.0), rtol=1e-6)


def test_temperature_and_humidity_enter_as_deviations_from_the_window_mean() -> None:
    w, b, _ = synthetic_windows(4, 2)
    norm = fit_norm(w)
    shifted = w.copy()
    shifted[:, :, 1] += 15.0  # a warmer room
    shifted[:, :, 2] -= 20.0  # a drier one
    np.testing.assert_allclose(preprocess(w, b, norm), preprocess(shifted, b, norm), atol=1e-4)


def test_preprocess_rejects_bad_shapes() -> None:
    norm = fit_norm(np.ones((1, WINDOW, 3)))
    with pytest.raises(ValueError):
        preprocess(np.ones((2, WINDOW, 2)), np.ones((2, 2)), norm)
    with pytest.raises(ValueError):
        preprocess(np.ones((2, WINDOW, 3)), np.ones(2), norm)


def test_window_features_shape_and_rise() -> None:
    w, b, y = synthetic_windows(6, 1)
    f = window_features(preprocess(w, b, fit_norm(w)))
    assert f.shape == (6, len(WINDOW_FEATURE_NAMES)) and f.dtype == np.float64
    last = WINDOW_FEATURE_NAMES.index("lr_last")
    assert (f[y == 1, last] > f[y == 0, last].max()).all()


def test_make_windows_skips_warm_up_and_cuts_ends() -> None:
    series = np.arange(100 * 3, dtype=np.float64).reshape(100, 3)
    sig = np.c_[np.arange(100.0), np.ones(100)]
    sig[:64] = np.nan  # warming up
    w, b, ends = make_windows(series, sig, stride=5)
    np.testing.assert_array_equal(ends, [64, 69, 74, 79, 84, 89, 94, 99])
    assert w.shape == (8, WINDOW, 3) and w.dtype == np.float32
    np.testing.assert_array_equal(w[0], series[5:65])
    np.testing.assert_array_equal(b[:, 0], ends.astype(float))
    assert make_windows(series[:59], np.zeros((59, 2)))[0].shape == (0, WINDOW, 3)


def test_the_step_route_sees_a_step_over_the_window_s_own_wander_but_not_a_dropout_s_end() -> None:
    """:func:`app.ml.features.step_rise` (off in the shipped manifest): a 2x step in the last
    5 readings over a flat window opens it although the device's noise scale (learned from a
    wide cycle) puts the step under ``z_hold`` scales; the same step over a window that
    already swung as much, and the return from a dropout to 0 ppm, do not."""
    import dataclasses

    from app.ml.features import evidence, step_rise
    from app.ml.signal import SignalConfig

    cfg = dataclasses.replace(SignalConfig(), jump_readings=10.0, jump_wander_q=1.0)
    rng = np.random.default_rng(3)
    amb = np.c_[np.full(60, 22.0), np.full(60, 45.0)]
    step = np.r_[600 + rng.normal(0, 3, 55), 1200 + rng.normal(0, 3, 5)]
    swung = np.r_[np.tile(np.r_[np.full(5, 600.0), np.full(5, 1200.0)], 5), np.full(10, 600.0)]
    swung[-5:] = 1200.0
    dropout = np.r_[np.full(55, 0.0), np.full(5, 500.0)]  # back at the level
    w = np.stack([np.c_[g, amb] for g in (step, swung, dropout)])
    sig = np.array([[500.0, 193.0, 22.0, 45.0]] * 3)  # the scale of a ±25 % 2-h cycle
    assert step_rise(w, sig, cfg).tolist() == [True, False, False]
    assert evidence(w, sig, cfg).tolist() == [True, False, False]
    assert not evidence(w, sig, SignalConfig()).any()  # the shipped gate: 3.6 scales up


def test_a_change_of_temperature_or_humidity_explains_a_rise_by_its_size_whatever_its_sign() -> (
    None
):
    """Counting only rises (tried 1 Dec) raised a critical leak alert at every cold draft on a
    clean sensor that reads higher when colder (newcomer of 1 Dec 12:10; the cold-draft
    probe of ``bench.detection_probe``): a fall explains as much as a rise of the same size,
    and an unknown change gives 0."""
    from app.ml.features import ambient_allowance, ambient_explained
    from app.ml.signal import SignalConfig

    cfg = SignalConfig()
    assert ambient_allowance(13.0, 45.0, 21.0, 45.0, cfg) == pytest.approx(8 * 0.0175)
    assert ambient_allowance(21.0, 35.0, 21.0, 60.0, cfg) == pytest.approx(25 * 0.0065)
    heated = ambient_allowance(27.0, 45.0, 22.0, 60.0, cfg)
    assert heated == pytest.approx(5 * 0.0175 + 15 * 0.0065)
    assert ambient_allowance(float("nan"), 85.0, 21.0, 45.0, cfg) == 0.0
    w = np.zeros((2, 60, 3))
    w[:, -1, 1:] = [[13.0, 45.0], [27.0, 45.0]]
    sig = np.array([[400.0, 4.0, 21.0, 45.0], [400.0, 4.0, 22.0, 60.0]])
    got = ambient_explained(w, sig, cfg)
    assert got[0] == pytest.approx(8 * 0.0175) and got[1] == pytest.approx(heated)
