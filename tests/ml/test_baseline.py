from __future__ import annotations

import math

import numpy as np

from app.ml.baseline import baseline_series, gas_log_ratio, update_baseline


def test_first_reading_starts_the_baseline() -> None:
    assert update_baseline(np.array([np.nan]), np.array([420.0]), 1.0)[0] == 420.0


def test_baseline_follows_down_at_once() -> None:
    assert update_baseline(np.array([500.0]), np.array([410.0]), 1.0)[0] == 410.0


def test_baseline_rises_by_one_minus_exp() -> None:
    # tau 100 s, dt 100 s: moves 1 - e^-1 = 0.632 of the way from 400 to 500
    out = update_baseline(np.array([400.0]), np.array([500.0]), 100.0, tau_up_s=100.0)
    assert math.isclose(out[0], 400 + 100 * (1 - math.exp(-1)), rel_tol=1e-12)


def test_baseline_series_hand_case() -> None:
    b = baseline_series(np.array([400.0, 300.0, 400.0]), 50.0, tau_up_s=50.0)
    np.testing.assert_allclose(b, [400.0, 300.0, 300.0 + 100 * (1 - math.exp(-1))])


def test_gas_log_ratio() -> None:
    r = gas_log_ratio(np.array([400.0, 801.0]), np.array([400.0, 400.0]))
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, [0.0, math.log(802 / 401)], rtol=1e-6)
