"""Named cases of the evaluation: every real clean stretch (false alarms), the real events
(detection delay from the labelled onset) and the synthetic probes of issue 9.

Each case is one device replayed from a fresh state at its own timestamps
(``app.training.online_replay.replay``).

Clean stretches: smoke_iot rows 0-3177 (label 0); smoke_iot test rows 51147-55975 (label 0,
eCO2 400-1,016 ppm; the label-0 run goes on to row 56888, but from row 55976 eCO2 climbs to
39,185 ppm, a real gas event the label misses, reported as an event instead; the label-0
run 49988-50020 is 33 readings, shorter than any warm-up) and rows 53300-54500 inside it on
their own (the replay of issue 9); air_quality_uci test months (from 2004-11-01) split at
missing values; methane_chamber_afc session 0 split at its gap (> 300 s), session 1 and
session 2 before their first labelled onset; synthetic: ``400 + 25 sin(i / 15)`` ppm at 1 Hz
for an hour, and a steady 420 ppm stream at 1 Hz with one 0 ppm reading.

Events: the smoke_iot gas-fire session (rows 50021-51141, label 1 from its first row), the
label-0 gas event in smoke_iot rows 55976-56888, methane_chamber_afc session 1 and session 2
(first 0 -> 1 of ``ch4_above_ambient``; the label leads the physical change by ~1-2 min,
SOURCE.md), and a persistent leak: 1 h of 420 ppm clean air at one reading a minute, then
3,000 ppm for 24 h (the alert must stay open).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import chi2

from app.training import data as D

#: smoke_iot test rows (end exclusive) that are label 0 and hold no gas event.
SMOKE_TEST_CLEAN = (51147, 55976)
#: The issue-9 replay inside it.
SMOKE_ISSUE9 = (53300, 54501)
#: smoke_iot label-0 rows with a real gas event (eCO2 to 39,185 ppm from row 55976).
SMOKE_UNLABELLED_GAS = (55976, 56889)
#: Rows of a synthetic probe at 1 Hz (one device-hour).
PROBE_ROWS = 3600
#: Row of the 0 ppm reading in the glitch probe (after every detector's warm-up).
GLITCH_ROW = 300


@dataclass(frozen=True)
class NamedCase:
    """One device: ``series`` (T, 3) physical, ``ts`` (T,) seconds; ``onset`` the labelled
    onset row (events) or None (clean stretch); ``group`` "real" or "synthetic"."""

    name: str
    dataset: str
    series: np.ndarray
    ts: np.ndarray
    onset: int | None = None
    group: str = "real"
    note: str = ""

    @property
    def device_hours(self) -> float:
        """Time covered: span of the timestamps plus one median reading interval, hours."""
        if len(self.ts) < 2:
            return 0.0
        return float(self.ts[-1] - self.ts[0] + np.median(np.diff(self.ts))) / 3600.0


def upper_95_per_1000h(n: int, hours: float) -> float | None:
    """One-sided 95 % upper bound of a Poisson alarm rate, per 1,000 device-hours.

    0 alarms: the rule of three, 3 / hours (-ln 0.05 = 2.996; Hanley & Lippman-Hand 1983).
    n > 0: the exact (Garwood 1936) bound chi2.ppf(0.95, 2 n + 2) / 2 / hours.
    None when no hours were observed.
    """
    if hours <= 0:
        return None
    lam = 3.0 if n == 0 else float(chi2.ppf(0.95, 2 * n + 2)) / 2.0
    return round(1000.0 * lam / hours, 3)


def _sec(n: int, dt: float) -> np.ndarray:
    return np.arange(n, dtype=np.float64) * dt


def _flat(gas: np.ndarray) -> np.ndarray:
    return np.column_stack([gas, np.full(len(gas), 22.0), np.full(len(gas), 50.0)])


def synthetic_clean() -> list[NamedCase]:
    """The ±25 ppm wave, the 0 ppm glitch stream and a methane sensor reading 0 ppm in clean
    air (noise sd 2 ppm, floored at 0: half its readings are 0) (T 22 °C, RH 50 % constant)."""
    i = np.arange(PROBE_ROWS, dtype=np.float64)
    glitch = np.full(PROBE_ROWS, 420.0)
    glitch[GLITCH_ROW] = 0.0
    zero = np.maximum(0.0, np.random.default_rng(0).normal(0.0, 2.0, PROBE_ROWS))
    return [
        NamedCase(
            "methane sensor at 0 ppm, noise sd 2 ppm floored at 0, 1 Hz",
            "synthetic",
            _flat(zero),
            _sec(PROBE_ROWS, 1.0),
            group="synthetic",
        ),
        NamedCase(
            "wave 400+25 sin(i/15) ppm, 1 Hz",
            "synthetic",
            _flat(400 + 25 * np.sin(i / 15)),
            _sec(PROBE_ROWS, 1.0),
            group="synthetic",
        ),
        NamedCase(
            f"steady 420 ppm, one 0 ppm reading at {GLITCH_ROW}, 1 Hz",
            "synthetic",
            _flat(glitch),
            _sec(PROBE_ROWS, 1.0),
            group="synthetic",
        ),
    ]


def smoke_clean(data_dir: Path | None) -> list[NamedCase]:
    """smoke_iot's clean stretches (1 Hz)."""
    s = D.load_smoke_iot(data_dir)
    out = []
    for (a, b), note in (
        (D.SMOKE_CLEAN, "training data: its first 80 % was a training background"),
        (SMOKE_TEST_CLEAN, "test rows, never trained on"),
        (SMOKE_ISSUE9, "test rows, never trained on"),
    ):
        out.append(
            NamedCase(
                f"smoke_iot rows {a}-{b - 1}",
                "smoke_iot",
                s.series[a:b],
                _sec(b - a, s.dt_s),
                note=note,
            )
        )
    return out


def airq_clean(data_dir: Path | None) -> list[NamedCase]:
    """air_quality_uci test months (hourly, PT08.S1 raw units), split at missing values."""
    aq = D.load_air_quality(data_dir)
    rows = aq.dates >= D.AIRQ_TRAIN_BEFORE
    return [
        NamedCase(
            f"air_quality_uci test session {k}",
            "air_quality_uci",
            s,
            _sec(len(s), aq.dt_s),
            note="test months, never trained on",
        )
        for k, s in enumerate(D.split_sessions(aq.series[rows], min_len=150))
    ]


def afc_clean(data_dir: Path | None) -> list[NamedCase]:
    """methane_chamber_afc session 0 split at gaps, sessions 1 and 2 before their onset."""
    afc = D.load_afc(data_dir)
    s0 = np.flatnonzero(afc.session == 0)
    out = [
        NamedCase(
            f"methane_chamber_afc session 0 part {k}",
            "methane_chamber_afc",
            afc.series[s0[sl]],
            afc.ts[s0[sl]],
            note="training background",
        )
        for k, sl in enumerate(D.split_at_gaps(afc.ts[s0], 300.0, 100))
    ]
    for k in (1, 2):
        idx = np.flatnonzero(afc.session == k)
        rows = idx[idx < afc.onsets(k)[0]]
        out.append(
            NamedCase(
                f"methane_chamber_afc session {k} before its first injection",
                "methane_chamber_afc",
                afc.series[rows],
                afc.ts[rows],
                note="never trained on",
            )
        )
    return out


def clean_stretches(data_dir: Path | None) -> list[NamedCase]:
    """Every clean stretch of the report, real then synthetic."""
    return [*smoke_clean(data_dir), *airq_clean(data_dir), *afc_clean(data_dir), *synthetic_clean()]


def real_events(data_dir: Path | None) -> list[NamedCase]:
    """The real events and the persistent-leak probe (see module docstring)."""
    s = D.load_smoke_iot(data_dir)
    out = []
    for (a, b), name, note in (
        (D.SMOKE_GAS_FIRE, "smoke_iot gas-fire session", "Fire Alarm 1 from the first row"),
        (SMOKE_UNLABELLED_GAS, "smoke_iot label-0 gas event", "label 0, eCO2 to 39,185 ppm"),
    ):
        out.append(
            NamedCase(
                f"{name} (rows {a}-{b - 1})",
                "smoke_iot",
                s.series[a:b],
                _sec(b - a, s.dt_s),
                onset=0,
                note=note,
            )
        )
    afc = D.load_afc(data_dir)
    for k in (1, 2):
        idx = np.flatnonzero(afc.session == k)
        on = int(np.searchsorted(idx, afc.onsets(k)[0]))
        out.append(
            NamedCase(
                f"methane_chamber_afc session {k} first injection",
                "methane_chamber_afc",
                afc.series[idx],
                afc.ts[idx],
                onset=on,
                note="labelled onset leads the sensor by ~1-2 min",
            )
        )
    return [*out, persistent_leak()]


def persistent_leak() -> NamedCase:
    """1 h of 420 ppm (sd 2) at one reading a minute, then 3,000 ppm (sd 15) for 24 h."""
    rng = np.random.default_rng(0)
    gas = np.r_[420 + rng.normal(0, 2, 60), 3000 + rng.normal(0, 15, 24 * 60)]
    return NamedCase(
        "persistent leak: 1 h at 420 ppm, then 3,000 ppm for 24 h, 1/min",
        "synthetic",
        _flat(gas),
        _sec(len(gas), 60.0),
        onset=60,
        group="synthetic",
        note="the alert must stay open",
    )
