"""Device snapshots: each device's ring buffer and signal model survive a restart.

Without them every device warmed up again after a restart: for its first ``warmup`` readings
(60 at 1 Hz: a minute; at one reading a minute, an hour) no window was scored, and the
level then started at the median of those readings, so a leak that began in them became the
device's baseline and only the threshold set points could still catch it (newcomer's probe).

The lifespan saves every device whose readings changed since the last save, every
``snapshot_interval_s`` (default 60 s) and once more at shutdown, after the scorer has
drained, into ``device_snapshots`` (:class:`app.store.snapshots.SnapshotsRepo`, no-fsync
commits of at most 500 rows). At start-up, before any reading is taken, each device saved
within ``device_idle_s`` gets its ring and signal model back, and then learns its readings
history newer than the snapshot (those accepted after the last periodic save when the
process was killed; none after a clean shutdown), as the service learned them the first
time, without scoring them again (their windows were scored then). A device away longer than
the signal model's gap (``max(gap_min_s, gap_factor x its reading interval)``: 5 min at
1 Hz) warms up again at its next reading as it always did: a level that old says little
about the sensor now. Single node only: in cluster mode a partition's new owner rebuilds its
devices from the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from app.ml.signal import LAYOUT
from app.services.buffers import DeviceBuffers, DeviceCapReached
from app.slab import Columns
from app.store.snapshots import SnapshotsRepo

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
        #: Readings each slot's device had at its last save (-1: none; 8 B a slot, cleared
        #: with the slot when its device is evicted).
        self.saved = Columns({"count": ("q", -1)})
        buffers.index.attach(self.saved)
        #: What the last :meth:`restore` did: devices, readings replayed, rows skipped.
        self.restored: dict[str, int] = {"devices": 0, "replayed": 0, "skipped": 0}

    def rows(self) -> list[dict[str, Any]]:
        """One row per device whose readings changed since its last save."""
        buf, states = self.buffers, self.buffers.signals.states
        now = self.wall()
        out = []
        owner = buf.index.owner
        saved = self.saved.view("count")
        changed = buf.index.used() & (buf.count > 0) & (buf.count != saved)
        for slot in np.flatnonzero(changed).tolist():
            device = owner(slot)
            if device is None:
                continue
            ring, count = buf.export(slot)
            out.append(
                {
                    "device_id": device,
                    "layout": self.layout,
                    "signal": np.asarray(states.export(slot), dtype="<f8").tobytes(),
                    "ring": ring.astype("<f4").tobytes(),
                    "count": count,
                    "last_ts": float(states.last_ts[slot]),
                    "saved_at": now,
                    "slot": slot,
                }
            )
        return out

    async def save(self) -> int:
        """Save every device changed since the last save; delete snapshots older than
        ``keep_s``. Returns the devices saved."""
        rows = self.rows()
        slots = [r.pop("slot") for r in rows]
        await self.repo.save(rows, prune_before=self.wall() - self.keep_s)
        col, owner = self.saved.col("count"), self.buffers.index.owner
        for s, r in zip(slots, rows, strict=True):
            if owner(s) == r["device_id"]:  # not evicted meanwhile
                col[s] = r["count"]
        return len(rows)

    async def restore(self) -> dict[str, int]:
        """Put back every device saved within ``keep_s``, then learn its readings history
        newer than its snapshot (no windows are scored). Call before any reading is taken.
        Rows of another layout (another model's ring length or signal fields) are skipped:
        those devices warm up again."""
        buf, states = self.buffers, self.buffers.signals.states
        done = {"devices": 0, "replayed": 0, "skipped": 0}
        rows = await self.repo.load(saved_after=self.wall() - self.keep_s)
        for r in rows:
            if r["layout"] != self.layout:
                done["skipped"] += 1
                continue
            ring = np.frombuffer(r["ring"], dtype="<f4").reshape(-1, 3)
            try:
                slot = buf.restore(r["device_id"], ring, int(r["count"]))
            except DeviceCapReached:
                done["skipped"] += 1
                continue
            states.load(slot, np.frombuffer(r["signal"], dtype="<f8").tolist())
            self.saved.col("count")[slot] = int(r["count"])
            done["devices"] += 1
            later = await self.repo.readings_after(r["device_id"], float(r["last_ts"]))
            if later:
                a = np.asarray(later, dtype=np.float64)
                buf.store([r["device_id"]] * len(a), a[:, 0], a[:, 1:], strict=True, windows=False)
                done["replayed"] += len(a)
            await asyncio.sleep(0)  # a long restore does not hold the loop in one piece
        self.restored = done
        if rows:
            log.info(
                "restored %d device(s) from snapshots (%d readings of history replayed, "
                "%d snapshot(s) skipped)",
                done["devices"],
                done["replayed"],
                done["skipped"],
            )
        return done

    async def run(self, interval_s: float) -> None:
        """Save every ``interval_s`` seconds until cancelled; a failed save is logged and
        tried again at the next interval."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.save()
            except Exception:
                log.exception("device snapshot failed; retrying in %g s", interval_s)
