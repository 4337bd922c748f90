"""A ppb cell's gas on its detection axis (``DeviceProfile(unit="ppb").axis()``), replayed
offline through the service's path (``bench.ppb_axis``: signal model, model, evidence gate,
leak policy). Detected in ppm, the gate's ratio ``log((gas + 1) / (level + 1))`` added
1,000 ppb to gas and level: a cell at 5 ppb never raised x2-x40 leaks (a newcomer). In ppb,
as sent, it raises them as a ppm sensor at 5 ppm does, and clean air at 5 ± 1 ppb
(whole ppb, a slow ±30 % wander) for hours raises nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.alerting.profiles import DeviceProfile, detected_gas
from app.config import Settings
from app.ml.predictor import load_predictor
from bench.field_kinds import announced
from bench.ppb_axis import END, OFF, ON, clean_cell, leak_series


@pytest.fixture(scope="module")
def pure_svm():
    return load_predictor(Path(Settings().artifacts_dir), device="cpu", use_torch=False)


def _on_axis(g: np.ndarray) -> np.ndarray:
    axis = DeviceProfile(unit="ppb").axis()
    return g if axis is None else np.asarray(detected_gas(g, axis), dtype=float)


@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_x2_to_x40_leaks_on_a_5_ppb_cell_are_raised_as_on_a_5_ppm_sensor(
    model: str, shipped_predictor, pure_svm
) -> None:
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    ts = np.arange(END, dtype=float)
    flat = np.full(END, 21.0)
    for x in (2.0, 4.0, 10.0, 40.0):
        g = leak_series(np.random.default_rng(int(x)), 5.0, 1.0, x, 0)  # whole ppb
        got = announced(pred, ts, _on_axis(g), flat, flat + 24.0)
        as_ppm = announced(pred, ts, g, flat, flat + 24.0)  # the same numbers in ppm
        assert got == as_ppm, (x, got, as_ppm)
        assert len(got) == 1 and ON <= got[0] < ON + 120, (x, got)  # within 2 min
        assert got[0] < OFF


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm_svm", "svm"])
def test_a_clean_5_ppb_cell_raises_no_leak_alert_for_hours(
    model: str, shipped_predictor, pure_svm
) -> None:
    """4 cells x 6 h at 1 Hz (noise sd 1 ppb, a ±30 % wander over 2-6 h, whole ppb)."""
    pred = shipped_predictor if model == "lstm_svm" else pure_svm
    for seed in range(4):
        g = clean_cell(np.random.default_rng(100 + seed), 6.0)
        ts = np.arange(len(g), dtype=float)
        flat = np.full(len(g), 21.0)
        assert announced(pred, ts, _on_axis(g), flat, flat + 24.0) == [], seed
