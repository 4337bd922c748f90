"""Loaders for the real recordings in ``shared/data`` (see each folder's SOURCE.md).

Series are float64 arrays (T, 3) with columns ``features.FEATURES`` (gas, °C, %RH).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SMOKE_FILE = "smoke_iot/smoke_detection_iot_T_RH_eCO2.csv"
AIRQ_FILE = "air_quality_uci/AirQualityUCI.csv"

#: smoke_iot row ranges (end exclusive). Rows 24994-49987 duplicate 0-24993 (never used).
SMOKE_TRAIN = (0, 24994)
SMOKE_CLEAN = (0, 3178)  # label 0, clean indoor air
SMOKE_TEST = (49988, 62630)
SMOKE_GAS_FIRE = (50021, 51142)  # real gas-fire session, eCO2 into the thousands
#: air_quality_uci: months before this date are training data.
AIRQ_TRAIN_BEFORE = "2004-11-01"


def default_data_dir() -> Path:
    """``$GASLEAK_DATA_DIR`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("GASLEAK_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _path(data_dir: Path | None, rel: str) -> Path:
    p = Path(data_dir if data_dir is not None else default_data_dir()) / rel
    if not p.is_file():
        raise FileNotFoundError(f"gas data file not found: {p} (set GASLEAK_DATA_DIR)")
    return p


@dataclass(frozen=True)
class SmokeIoT:
    """smoke_iot, 1 Hz. series (62630, 3): eCO2[ppm], Temperature[C], Humidity[%]; label (N,)."""

    series: np.ndarray
    fire_alarm: np.ndarray
    path: Path
    dt_s: float = 1.0


def load_smoke_iot(data_dir: Path | None = None) -> SmokeIoT:
    """Read smoke_iot. Raises FileNotFoundError naming the path when it is missing."""
    p = _path(data_dir, SMOKE_FILE)
    raw = np.genfromtxt(p, delimiter=",", skip_header=1, dtype=np.float64)
    series = np.stack([raw[:, 3], raw[:, 1], raw[:, 2]], axis=1)
    return SmokeIoT(series=series, fire_alarm=raw[:, 4].astype(np.int8), path=p)


@dataclass(frozen=True)
class AirQuality:
    """air_quality_uci, hourly. series (T, 3): PT08.S1(CO) raw, T °C, RH % (NaN = missing)."""

    series: np.ndarray
    dates: np.ndarray  # (T,) str "YYYY-MM-DD"
    co_gt: np.ndarray  # (T,) mg/m³, NaN missing
    path: Path
    dt_s: float = 3600.0


def load_air_quality(data_dir: Path | None = None) -> AirQuality:
    """Read air_quality_uci; -200 becomes NaN. Raises FileNotFoundError naming the path."""
    p = _path(data_dir, AIRQ_FILE)
    with p.open(newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    cols = [head.index(c) for c in ("PT08.S1(CO)", "T", "RH", "CO(GT)")]
    vals = np.array([[float(r[c]) for c in cols] for r in body], dtype=np.float64)
    vals[vals == -200] = np.nan
    dates = np.array([r[0] for r in body])
    return AirQuality(series=vals[:, :3], dates=dates, co_gt=vals[:, 3], path=p)


def split_sessions(series: np.ndarray, min_len: int) -> list[np.ndarray]:
    """Split (T, 3) at rows with any NaN; keep runs of at least ``min_len`` rows (copies)."""
    ok = ~np.isnan(series).any(axis=1)
    out, start = [], None
    for i, good in enumerate(np.append(ok, False)):
        if good and start is None:
            start = i
        elif not good and start is not None:
            if i - start >= min_len:
                out.append(series[start:i].copy())
            start = None
    return out


AFC_FILE = "methane_chamber_afc/afc_methane_chamber_0p5hz.csv"


@dataclass(frozen=True)
class MethaneChamber:
    """methane_chamber_afc, ~0.5 Hz. series (T, 3): CH4_1 [mV], Temp [°C], Humidity [%RH];
    ts (T,) epoch seconds of the logger clock (read as UTC); session (T,) 0/1/2; above (T,)
    ``ch4_above_ambient`` 0/1 (leads the physical change by ~1-2 min, see SOURCE.md)."""

    series: np.ndarray
    ts: np.ndarray
    session: np.ndarray
    above: np.ndarray
    path: Path

    def onsets(self, session: int) -> np.ndarray:
        """Row indices (into the whole file) where ``above`` goes 0 -> 1 within ``session``."""
        idx = np.flatnonzero(self.session == session)
        a = self.above[idx]
        return np.asarray(idx[1:][np.diff(a) == 1], dtype=np.int64)


def load_afc(data_dir: Path | None = None) -> MethaneChamber:
    """Read methane_chamber_afc. Raises FileNotFoundError naming the path when it is missing."""
    p = _path(data_dir, AFC_FILE)
    with p.open(newline="") as f:
        rows = list(csv.reader(f))
    head, body = rows[0], rows[1:]
    c = {
        k: head.index(k)
        for k in ("time", "CH4_1", "Temp", "Humidity", "session", "ch4_above_ambient")
    }
    series = np.array(
        [[float(r[c["CH4_1"]]), float(r[c["Temp"]]), float(r[c["Humidity"]])] for r in body]
    )
    ts = np.array([r[c["time"]].replace(" ", "T") for r in body], dtype="datetime64[s]")
    return MethaneChamber(
        series=series,
        ts=ts.astype(np.int64).astype(np.float64),
        session=np.array([int(r[c["session"]]) for r in body]),
        above=np.array([int(r[c["ch4_above_ambient"]] or 0) for r in body]),
        path=p,
    )


def split_at_gaps(ts: np.ndarray, max_gap_s: float, min_len: int) -> list[slice]:
    """Row slices of ``ts`` (T,) without a step over ``max_gap_s``, at least ``min_len`` long."""
    cuts = np.r_[0, np.flatnonzero(np.diff(ts) > max_gap_s) + 1, len(ts)]
    return [
        slice(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b - a >= min_len
    ]
