from __future__ import annotations

import numpy as np
import pytest

from app.training.leaks import SHAPES, LeakEvent, LeakInjector, amplitude_from_std


def _background(n: int = 3000) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.stack([400 + rng.normal(0, 2, n), np.full(n, 22.0), np.full(n, 50.0)], axis=1)


def test_same_seed_same_result_and_input_untouched() -> None:
    bg = _background()
    bg0 = bg.copy()
    inj = LeakInjector()
    a, b = inj.inject(bg, seed=3), inj.inject(bg, seed=3)
    np.testing.assert_array_equal(a.series, b.series)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.events and a.events == b.events
    np.testing.assert_array_equal(bg, bg0)
    assert not np.array_equal(a.series, inj.inject(bg, seed=4).series)


@pytest.mark.parametrize("shape", SHAPES)
def test_labels_start_at_onset_and_gas_rises(shape: str) -> None:
    bg = _background(1000)
    ev = LeakEvent(shape, onset=200, duration=300, amplitude=1.0)
    res = LeakInjector(noise_frac=0.0).inject(bg, seed=0, events=[ev])
    assert res.labels[199] == 0 and res.labels[200] == 1 and res.labels[499] == 1
    assert res.labels[500] == 0 and res.labels.sum() == 300
    np.testing.assert_array_equal(res.onsets, [200])
    np.testing.assert_array_equal(res.series[:200], bg[:200])
    assert res.response[200:500].max() > 0.3
    assert (res.series[200:500, 0] >= bg[200:500, 0]).all()


def test_sensor_lag_first_order() -> None:
    ev = LeakEvent("ramp", onset=100, duration=800, amplitude=1.0)
    inj = LeakInjector(noise_frac=0.0, cross_t=0.0, cross_rh=0.0, tau_s=10.0)
    res = inj.inject(_background(1000), seed=0, events=[ev])
    assert 0 < res.response[100] < 0.2  # lags the source
    assert res.response[899] == pytest.approx(1.0, abs=0.01)


def test_bad_event_raises_and_amplitude_from_std() -> None:
    with pytest.raises(ValueError):
        LeakInjector().inject(_background(100), events=[LeakEvent("ramp", 90, 20, 1.0)])
    g = np.array([399.0, 401.0] * 50)
    assert amplitude_from_std(g, 3.0) == pytest.approx(np.log1p(3.0 / 401.0))
