"""Device snapshots: each device's ring buffer, signal model and last leak probability survive
a restart.

Without them every device warmed up again after a restart: for its first ``warmup`` readings
(60 at 1 Hz: a minute; at one reading a minute, an hour) no window was scored, and the
level then started at the median of those readings, so a leak that began in them became the
device's baseline and only the threshold set points could still catch it (newcomer's probe).

The lifespan saves every device whose readings changed since the last save, every
``snapshot_interval_s`` (default 60 s) and once more at shutdown (and a device whose warm-up
an operator restarted at once, :meth:`Snapshots.save_devices`), after the scorer has
drained, into ``device_snapshots`` (:class:`app.store.snapshots.SnapshotsRepo`, no-fsync
commits of at most 500 rows). At start-up, before any reading is taken, each device saved
within ``device_idle_s`` gets its ring and signal model back, and then learns its readings
history newer than the snapshot (those accepted after the last periodic save when the
process was killed; none after a clean shutdown), as the service learned them the first
time, without scoring them again (their windows were scored then). A device away longer than
the signal model's gap (``max(gap_min_s, gap_factor x its reading interval)``: 5 min at
1 Hz) warms up again at its next reading as it always did: a level that old says little
about the sensor now. The device's last leak probability (device view ``last_probability``)
comes back with it (it read null after a restart until the next window was scored:
newcomer); a row saved before it was kept (migration 0007) comes back with it unknown.
Single node only: in cluster mode a partition's new owner rebuilds its
devices from the stream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.ml.signal import LAYOUT
from app.services.buffers import DeviceBuffers, DeviceCapReached
from app.slab import Columns
from app.store.snapshots import CHUNK, SnapshotsRepo

log = logging.getLogger(__name__)


class Snapshots:
    """Save and restore the devices' ring buffers and signal models.

    Args:
        repo: the store's ``device_snapshots`` rows.
        buffers: the ring buffers (and, through ``buffers.signals``, the signal models).
        keep_s: a snapshot older than this (s; ``device_idle_s``: such a device would be
            evicted) is neither restored nor kept.
        wall: epoch seconds (injected for tests).
    """

    def __init__(
        self,
        repo: SnapshotsRepo,
        buffers: DeviceBuffers,
        *,
        keep_s: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.repo = repo
        self.buffers = buffers
        self.keep_s = keep_s
        self.wall = wall
        self.layout = f"{LAYOUT};ring={buffers.ring}"
        #: Readings each slot's device had at its last save (-1: none) and its leak
        #: probability then (NaN: none; 16 B a slot, cleared with the slot when its device is
        #: evicted).
        self.saved = Columns({"count": ("q", -1), "probability": ("d", math.nan)})
        buffers.index.attach(self.saved)

    def changed(self) -> np.ndarray:
        """Slots whose device has had readings, or a new leak probability (its window scored
        after the save of its reading), since its last save, (k,) int64."""
        buf = self.buffers
        saved = self.saved.view("count")
        p = buf.signals.scores.view("probability")  # same index, same length
        saved_p = self.saved.view("probability")
        new_p = (p != saved_p) & ~(np.isnan(p) & np.isnan(saved_p))
        out: np.ndarray = np.flatnonzero(
            buf.index.used() & (buf.count > 0) & ((buf.count != saved) | new_p)
        )
        return out

    def rows(self, slots: np.ndarray) -> list[dict[str, Any]]:
        """One row per slot (its device's ring and signal model as of now)."""
        buf, states = self.buffers, self.buffers.signals.states
        prob = self.buffers.signals.scores.col("probability")
        now = self.wall()
        out = []
        owner = buf.index.owner
        for slot in slots.tolist():
            device = owner(slot)
            if device is None:
                continue
            ring, count = buf.export(slot)
            p = float(prob[slot])
            out.append(
                {
                    "device_id": device,
                    "layout": self.layout,
                    "signal": np.asarray(states.export(slot), dtype="<f8").tobytes(),
                    "ring": ring.astype("<f4").tobytes(),
                    "count": count,
                    "last_ts": float(states.last_ts[slot]),
                    "saved_at": now,
                    "probability": None if math.isnan(p) else p,
                }
            )
        return out

    async def save(self) -> int:
        """Save every device changed since the last save, :data:`CHUNK` devices per
        transaction (each chunk built just before it is written: memory and the event loop's
        share stay those of one chunk, whatever the fleet); delete snapshots older than
        ``keep_s``. Returns the devices saved."""
        n = await self._write(self.changed())
        await self.repo.prune(self.wall() - self.keep_s)
        return n

    async def save_devices(self, device_ids: list[str]) -> int:
        """Save these devices now, whatever the interval: after an operator restarted their
        warm-up (a baseline reset, a unit or zero change). A kill within the interval
        otherwise brought back the snapshot from before it, and with it the old level: a
        sensor swapped to one reading 600 ppm on clean air, or a new zero, then raised a
        critical leak that never cleared (newcomer of 1 Dec 13:45). Returns the devices
        saved (those tracked)."""
        index = self.buffers.index
        slots = [s for d in device_ids if (s := index.get(d)) is not None]
        if not slots or not self.buffers.count[slots].any():
            return 0
        return await self._write(np.asarray(slots, dtype=np.int64))

    async def _write(self, slots: np.ndarray) -> int:
        """Write these slots' rows, :data:`CHUNK` devices per transaction, and mark them
        saved. Returns the devices written."""
        col, col_p = self.saved.col("count"), self.saved.col("probability")
        owner = self.buffers.index.owner
        n = 0
        for i in range(0, len(slots), CHUNK):
            rows = self.rows(slots[i : i + CHUNK])
            await self.repo.write(rows)
            for r in rows:  # the slot may have been evicted and reused meanwhile
                s = self.buffers.index.get(r["device_id"])
                if s is not None and owner(s) == r["device_id"]:
                    col[s] = r["count"]
                    p = r["probability"]
                    col_p[s] = math.nan if p is None else p
            n += len(rows)
        return n

    async def restore(self) -> dict[str, int]:
        """Put back every device saved within ``keep_s`` (ring, signal model, last leak
        probability: unknown for a row saved without one), then learn its readings history
        newer than its snapshot (no windows are scored). Call before any reading is taken.
        Rows of another layout (another model's ring length or signal fields) are skipped:
        those devices warm up again."""
        buf = self.buffers
        done = {"devices": 0, "replayed": 0, "skipped": 0}
        since, after = self.wall() - self.keep_s, ""
        while rows := await self.repo.load(saved_after=since, after_id=after):
            after = rows[-1]["device_id"]
            for r in rows:
                what = self._restore_one(r)
                done[what] += 1
                if what != "devices":
                    continue
                later = await self.repo.readings_after(r["device_id"], float(r["last_ts"]))
                if later:
                    a = np.asarray(later, dtype=np.float64)
                    ids = [r["device_id"]] * len(a)
                    buf.store(ids, a[:, 0], a[:, 1:], strict=True, windows=False)
                    done["replayed"] += len(a)
            await asyncio.sleep(0)  # a long restore does not hold the loop in one piece
        if done["devices"] or done["skipped"]:
            log.info(
                "restored %d device(s) from snapshots (%d readings of history replayed, "
                "%d snapshot(s) skipped)",
                done["devices"],
                done["replayed"],
                done["skipped"],
            )
        return done

    def _restore_one(self, r: dict[str, Any]) -> str:
        """Put back one row: "devices", or "skipped" (another layout, or the device cap)."""
        if r["layout"] != self.layout:
            return "skipped"
        ring = np.frombuffer(r["ring"], dtype="<f4").reshape(-1, 3)
        try:
            slot = self.buffers.restore(r["device_id"], ring, int(r["count"]))
        except DeviceCapReached:
            return "skipped"
        self.buffers.signals.states.load(slot, np.frombuffer(r["signal"], dtype="<f8").tolist())
        self.saved.col("count")[slot] = int(r["count"])
        p = r.get("probability")
        p = math.nan if p is None else float(p)
        self.buffers.signals.scores.col("probability")[slot] = p
        self.saved.col("probability")[slot] = p
        return "devices"

    async def run(self, interval_s: float) -> None:
        """Save every ``interval_s`` seconds until cancelled; a failed save is logged and
        tried again at the next interval."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.save()
            except Exception:
                log.exception("device snapshot failed; retrying in %g s", interval_s)
