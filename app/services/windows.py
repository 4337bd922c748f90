"""Immutable windows handed from the buffers to the scorer (copies, never live views)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

#: Per-reading outcome codes of :meth:`app.services.buffers.DeviceBuffers.store`: ``TWICE``
#: is a reading delivered twice, each copy stamped on arrival
#: (:data:`app.services.buffers.TWICE_FRACTION`); ``DUPLICATE`` one resent at its own stamp.
STORED, LATE, CAPPED, BAD_TS, DUPLICATE, TWICE = 0, 1, 2, 3, 4, 5


def as_sent(x: float | np.floating) -> float:
    """A value kept as float32 (the ring buffers' readings), as the shortest decimal that
    reads back as the same float32 (NumPy's ``str``, the Dragon4 "unique" digits): a
    reading sent as 400.1 is reported as 400.1, not as its float32's exact value
    400.1000061035156 (newcomer: alert payloads carried ``gas`` 5.369999885559082 for a
    reading of 5.37). Non-finite values pass through."""
    return float(str(np.float32(x)))


@dataclass(frozen=True, slots=True)
class Window:
    """One full window, ready for scoring.

    ``values`` (window, 3) float32, columns gas, temperature_c, humidity_pct, oldest first;
    ``signal`` (4,) float64, the device's gas level and noise scale (gas unit), and the
    temperature and humidity the level was learned at, after the last reading
    (:mod:`app.ml.signal`); ``ts`` the last reading's time, epoch seconds.
    """

    device_id: str
    ts: float
    values: np.ndarray
    signal: np.ndarray


@dataclass(frozen=True, slots=True)
class WindowBatch:
    """N windows as stacked arrays: ``device_ids`` (N ids), ``ts`` (N,) float64, ``values``
    (N, window, 3) float32, ``signal`` (N, 4) float64. Windows of one device appear in time
    order. Iterating yields :class:`Window` objects."""

    device_ids: list[str]
    ts: np.ndarray
    values: np.ndarray
    signal: np.ndarray

    def __len__(self) -> int:
        return len(self.device_ids)

    def __iter__(self) -> Iterator[Window]:
        for i, d in enumerate(self.device_ids):
            yield Window(d, float(self.ts[i]), self.values[i], self.signal[i])

    def __getitem__(self, key: slice) -> WindowBatch:
        return WindowBatch(self.device_ids[key], self.ts[key], self.values[key], self.signal[key])

    @classmethod
    def concat(cls, parts: Sequence[WindowBatch]) -> WindowBatch:
        """One batch holding ``parts`` in order (the part itself when there is one)."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            [d for p in parts for d in p.device_ids],
            np.concatenate([p.ts for p in parts]),
            np.concatenate([p.values for p in parts]),
            np.concatenate([p.signal for p in parts]),
        )

    @classmethod
    def of(cls, windows: Sequence[Window]) -> WindowBatch:
        """Stack single windows into a batch."""
        return cls(
            [w.device_id for w in windows],
            np.fromiter((w.ts for w in windows), np.float64, len(windows)),
            np.stack([w.values for w in windows]),
            np.stack([w.signal for w in windows]),
        )


class Stored(NamedTuple):
    """Outcome of a store: ``codes`` (N,) uint8 (STORED, LATE, CAPPED, BAD_TS, DUPLICATE or
    TWICE per reading in input order); ``windows`` the windows due or None; ``prior_ts`` (N,)
    float64, each reading's device's newest stored time before the batch (NaN for a new
    device); ``ts`` (N,) float64, where each stored reading was put on its device's time
    line, epoch s: its own ``ts``, or the server's receipt time for a device whose clock is
    broken (:data:`app.services.buffers.CLOCK_FAULT_S`); None = every reading at its own
    ``ts``."""

    codes: np.ndarray
    windows: WindowBatch | None
    prior_ts: np.ndarray
    ts: np.ndarray | None = None
