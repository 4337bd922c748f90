from __future__ import annotations

import numpy as np
import pytest

from app.ml.features import (
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
    assert x.shape == (5, WINDOW, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(w, w0)
    assert abs(float(x[:, :, 1].mean())) < 1e-4 and abs(float(x[:, :, 1].std()) - 1) < 1e-3


def test_preprocess_gas_is_log_ratio_to_baseline() -> None:
    w = np.zeros((1, WINDOW, 3), np.float32)
    w[0, :, 0] = 801.0
    norm = {"temperature_mean": 0, "temperature_std": 1, "humidity_mean": 0, "humidity_std": 1}
    x = preprocess(w, np.array([400.0]), norm)
    np.testing.assert_allclose(x[0, :, 0], np.log(802 / 401), rtol=1e-6)


def test_preprocess_rejects_bad_shapes() -> None:
    norm = fit_norm(np.ones((1, WINDOW, 3)))
    with pytest.raises(ValueError):
        preprocess(np.ones((2, 59, 3)), np.ones(2), norm)
    with pytest.raises(ValueError):
        preprocess(np.ones((2, WINDOW, 3)), np.ones(3), norm)


def test_window_features_shape_and_rise() -> None:
    w, b, y = synthetic_windows(6, 1)
    f = window_features(preprocess(w, b, fit_norm(w)))
    assert f.shape == (6, len(WINDOW_FEATURE_NAMES)) and f.dtype == np.float64
    last = WINDOW_FEATURE_NAMES.index("gas_last")
    assert (f[y == 1, last] > f[y == 0, last].max()).all()


def test_make_windows_ends_and_content() -> None:
    series = np.arange(100 * 3, dtype=np.float64).reshape(100, 3)
    w, b, ends = make_windows(series, np.arange(100.0), stride=10)
    np.testing.assert_array_equal(ends, [59, 69, 79, 89, 99])
    assert w.shape == (5, WINDOW, 3) and w.dtype == np.float32
    np.testing.assert_array_equal(w[0], series[:60])
    np.testing.assert_array_equal(b, ends.astype(float))
    assert make_windows(series[:59], np.zeros(59))[0].shape == (0, WINDOW, 3)
