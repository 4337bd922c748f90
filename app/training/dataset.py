"""Training / hold-out windows: real clean backgrounds from the training part of the data,
with injected leaks as positives.

Sources (see ``data.py``): smoke_iot rows 0-3177 (clean indoor air, 1 Hz), smoke_iot rows
3178-24993 (session label "fire" but eCO2 mostly at the 400 ppm floor; used as background,
windows with a real rise are dropped, see ``MAX_BACKGROUND_LR``), air_quality_uci hours before
2004-11-01 (street air, hourly, split at missing values). Each background is split in time:
the first 80 % gives training windows, the last 20 % hold-out windows, with leaks injected
separately (different seeds). The test part (smoke_iot rows 49988-62629, air quality from
2004-11-01) is never used here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.ml.features import RECENT, gas_rise, series_windows
from app.ml.signal import SignalConfig
from app.training import data as D
from app.training.leaks import InjectionResult, LeakInjector

#: A window is positive when the leak is on in its last RECENT readings with response >= this.
POS_MIN_RESPONSE = 0.15
#: A window is negative when the leak response is below this over the whole window.
NEG_MAX_RESPONSE = 0.01
#: Negative windows whose real gas log-ratio exceeds this in the last RECENT readings are
#: dropped for backgrounds flagged ``ambiguous`` (smoke_iot rows 3178-24993).
MAX_BACKGROUND_LR = 0.3
HOLDOUT_FRACTION = 0.2
#: At most this many windows train each SVM (support vectors make skops files grow).
SVM_MAX_TRAIN = 4000


@dataclass(frozen=True)
class Background:
    """One real background recording (T, 3) with how to cut and inject it."""

    name: str
    series: np.ndarray
    dt_s: float
    stride: int
    injector: LeakInjector
    ambiguous: bool = False
    copies: int = 1
    ts: np.ndarray | None = None  # (T,) seconds; None = regular spacing dt_s

    def times(self) -> np.ndarray:
        """(T,) seconds of each reading."""
        return self.ts if self.ts is not None else np.arange(len(self.series)) * self.dt_s


@dataclass(frozen=True)
class WindowSet:
    """windows (N, 60, 3) float32 physical; signal (N, 2) level and noise scale at each
    window's last reading; labels (N,) int64 0/1; source (N,)."""

    windows: np.ndarray
    signal: np.ndarray
    labels: np.ndarray
    source: np.ndarray

    @staticmethod
    def concat(parts: list[WindowSet]) -> WindowSet:
        return WindowSet(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("windows", "signal", "labels", "source")
            )
        )


def label_windows(
    res: InjectionResult,
    ts: np.ndarray,
    stride: int,
    ambiguous: bool,
    cfg: SignalConfig | None = None,
) -> WindowSet:
    """Cut an injected series (readings at ``ts`` (T,) seconds) into the windows the service
    would score, label them and drop ambiguous ones."""
    w, b, ends = series_windows(res.series, ts, stride, cfg)
    recent = ends[:, None] - np.arange(RECENT)[None, :]
    whole = ends[:, None] - np.arange(w.shape[1])[None, :]
    pos = (res.labels[recent].max(1) == 1) & (res.response[recent].max(1) >= POS_MIN_RESPONSE)
    neg = (res.labels[whole].max(1) == 0) & (res.response[whole].max(1) < NEG_MAX_RESPONSE)
    if ambiguous:
        neg &= gas_rise(w, b)[0] <= MAX_BACKGROUND_LR
    keep = pos | neg
    return WindowSet(w[keep], b[keep], pos[keep].astype(np.int64), np.zeros(keep.sum(), int))


def _augment(series: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift temperature by U(-10, 15) °C and humidity by U(-20, 10) %RH (clipped to 5-95)."""
    s = series.copy()
    s[:, 1] += rng.uniform(-10.0, 15.0)
    s[:, 2] = np.clip(s[:, 2] + rng.uniform(-20.0, 10.0), 5.0, 95.0)
    return s


def backgrounds(data_dir: Path | None) -> list[Background]:
    """The training-part backgrounds (see module docstring)."""
    smoke = D.load_smoke_iot(data_dir)
    airq = D.load_air_quality(data_dir)
    fast = LeakInjector(dt_s=1.0, duration_range=(60, 600), gap_range=(120, 600))
    # Hourly leaks 48-168 h apart (was 12-72 h): leaves leak-free street-air windows as
    # negatives, which the first model lacked (many false alarms on the test months).
    hourly = LeakInjector(dt_s=3600.0, duration_range=(6, 48), gap_range=(48, 168))
    afc = D.load_afc(data_dir)
    slow = LeakInjector(dt_s=2.5, duration_range=(40, 300), gap_range=(60, 400))
    a, b = D.SMOKE_CLEAN
    out = [
        Background("smoke_iot rows 0-3177 (clean)", smoke.series[a:b], 1.0, 2, fast, copies=3),
        Background(
            "smoke_iot rows 3178-24993",
            smoke.series[b : D.SMOKE_TRAIN[1]],
            1.0,
            6,
            fast,
            ambiguous=True,
        ),
    ]
    train_rows = airq.dates < D.AIRQ_TRAIN_BEFORE
    for i, sess in enumerate(D.split_sessions(airq.series[train_rows], min_len=150)):
        out.append(Background(f"air_quality_uci session {i}", sess, 3600.0, 1, hourly))
    s0 = np.flatnonzero(afc.session == 0)
    for i, sl in enumerate(D.split_at_gaps(afc.ts[s0], 300.0, 400)):
        rows = s0[sl]
        out.append(
            Background(
                f"methane_chamber_afc session 0 part {i}",
                afc.series[rows],
                2.5,
                6,
                slow,
                ts=afc.ts[rows] - afc.ts[rows][0],
            )
        )
    return out


def build_sets(
    data_dir: Path | None, seed: int = 0, exclude: str | None = None
) -> tuple[WindowSet, WindowSet]:
    """(train, holdout) WindowSets; each background split in time (last 20 % held out).

    ``exclude``: leave out every background whose name starts with it (a dataset name, for
    leave-one-dataset-out evaluation).
    """
    rng = np.random.default_rng(seed)
    train: list[WindowSet] = []
    hold: list[WindowSet] = []
    for k, bg in enumerate(backgrounds(data_dir)):
        if exclude and bg.name.startswith(exclude):
            continue
        cut = int(len(bg.series) * (1 - HOLDOUT_FRACTION))
        ts = bg.times()
        for c in range(bg.copies):
            for sl, sink in ((slice(0, cut), train), (slice(cut, None), hold)):
                part = bg.series[sl]
                series = part if c == 0 else _augment(part, rng)
                res = bg.injector.inject(series, seed=rng)
                ws = label_windows(res, ts[sl], bg.stride, bg.ambiguous)
                sink.append(WindowSet(ws.windows, ws.signal, ws.labels, np.full(len(ws.labels), k)))
    return WindowSet.concat(train), WindowSet.concat(hold)
