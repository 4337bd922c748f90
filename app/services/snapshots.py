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
A registered device with readings history within ``device_idle_s`` but no snapshot saved in
that time (first seen after the last save of a process that was then killed: ``kill -9``
within ``snapshot_interval_s`` of its first reading) is rebuilt from its last
:data:`HISTORY_READINGS` readings of history the same way (:meth:`Snapshots._rebuild`):
before, it warmed up afresh on its first readings after the restart, and a leak that
started then became its level (newcomer of 7 Dec). A device whose snapshot is of another
layout (another model) still warms up again.
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
from app.services.windows import STORED
from app.slab import Columns
from app.store.snapshots import CHUNK, SnapshotsRepo

log = logging.getLogger(__name__)

#: Readings of history at most that a device without a snapshot learns at start-up
#: (:meth:`Snapshots._rebuild`): its last ones within ``keep_s``. Enough for the ring and
#: the warm-up (60 with the shipped model) and, at 1 Hz, the 10-min settling period after
#: it; a device first seen within one ``snapshot_interval_s`` (60 s) of a kill has far
#: fewer, all learned. The bound holds the start-up's cost (learning a reading took
#: 25-70 µs on a shared 2-core box: ``python -m bench.restore``) where saves failed for
#: long (README "After a restart").
HISTORY_READINGS = 1000


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
        newer than its snapshot (no windows are scored); then rebuild every registered
        device with readings history but no snapshot within ``keep_s`` from its last
        :data:`HISTORY_READINGS` readings (:meth:`_rebuild`). Call before any reading is
        taken. Rows of another layout (another model's ring length or signal fields) are
        skipped: those devices warm up again (after a model change every device has such
        a row, and rebuilding them all could hold the start-up for minutes).

        Returns:
            Counts: ``devices`` restored from snapshots, ``replayed`` readings learned after
            their snapshots, ``skipped`` snapshot rows, ``rebuilt`` devices without a
            snapshot learned from history, ``rebuilt_readings`` readings they learned.
        """
        buf = self.buffers
        done = {"devices": 0, "replayed": 0, "skipped": 0, "rebuilt": 0, "rebuilt_readings": 0}
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
        done["rebuilt"], done["rebuilt_readings"] = await self._rebuild(since)
        if any(done.values()):
            log.info(
                "restored %d device(s) from snapshots (%d readings of history replayed, "
                "%d snapshot(s) skipped); %d device(s) without a snapshot rebuilt from %d "
                "readings of history",
                done["devices"],
                done["replayed"],
                done["skipped"],
                done["rebuilt"],
                done["rebuilt_readings"],
            )
        return done

    async def _rebuild(self, since: float) -> tuple[int, int]:
        """Learn the readings history of every registered device heard from after ``since``
        (epoch s) that has no snapshot saved since then, as :meth:`restore` learns the history
        after a snapshot (no windows scored): its last :data:`HISTORY_READINGS` readings,
        :data:`CHUNK` devices at a time. Such a device was first seen after the last save of
        a process that was then killed (``kill -9`` within ``snapshot_interval_s`` of its
        first reading): it warmed up afresh on its first readings after the restart, and a
        leak that started then became its level, with no alert at all (newcomer of 7 Dec).
        A device beyond ``max_devices`` is left out. Returns (devices, readings) learned."""
        buf, repo = self.buffers, self.repo
        devices = readings = 0
        after = ""
        while ids := await repo.unsaved_devices(since=since, after_id=after):
            after = ids[-1]
            new = [d for d in ids if d not in buf.index]  # restored above: not again
            rows = await repo.recent_readings(new, since=since, limit=HISTORY_READINGS)
            if rows:
                a = np.asarray([r[1:] for r in rows], dtype=np.float64)
                ids_of = [r[0] for r in rows]
                codes = buf.store(ids_of, a[:, 0], a[:, 1:], strict=True, windows=False).codes
                stored = codes == STORED
                readings += int(stored.sum())
                devices += len({d for d, ok in zip(ids_of, stored.tolist(), strict=True) if ok})
            await asyncio.sleep(0)
        return devices, readings

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
