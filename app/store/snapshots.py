"""Device snapshots in the store: each device's ring buffer and signal model, saved
periodically and at shutdown, read back at start-up (``app/services/snapshots.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select

from app.store.models import DeviceSnapshot, ReadingRow
from app.store.readings import FastRepo

S: Table = DeviceSnapshot.__table__  # type: ignore[assignment]  # a Table at run time
R: Table = ReadingRow.__table__  # type: ignore[assignment]
#: Rows per transaction: each holds the store's write lock for a few ms (1,000 readings
#: history rows took ~10 ms), so an alert event waits for at most one chunk.
CHUNK = 500


class SnapshotsRepo(FastRepo):
    """``device_snapshots`` rows; writes take the store's write lock, one chunk at a time."""

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        """Replace the rows of these devices (dicts with every column) in one transaction;
        callers keep it to :data:`CHUNK` rows."""
        if not rows:
            return
        chunk = list(rows)

        def write(conn: Connection) -> None:
            conn.execute(delete(S).where(S.c.device_id.in_([r["device_id"] for r in chunk])))
            conn.execute(insert(S), chunk)

        async with self.write_lock:
            await self._transaction(write)

    async def prune(self, before: float) -> None:
        """Delete rows saved before ``before`` (epoch s: devices gone idle, which the service
        has evicted)."""
        async with self.write_lock:
            await self._transaction(
                lambda conn: conn.execute(delete(S).where(S.c.saved_at < before))
            )

    async def load(
        self, *, saved_after: float, after_id: str = "", limit: int = CHUNK
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` rows saved after ``saved_after`` (epoch s) whose device id sorts
        after ``after_id``, as dicts in device-id order (pages: pass the last id back)."""
        q = (
            select(S)
            .where(S.c.saved_at >= saved_after, S.c.device_id > after_id)
            .order_by(S.c.device_id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def readings_after(
        self, device_id: str, ts: float
    ) -> list[tuple[float, float, float, float]]:
        """The device's readings history newer than ``ts`` (epoch s), oldest first: (ts, gas,
        °C, %RH) tuples (an indexed range query, ``ix_readings_device_ts``)."""
        q = (
            select(R.c.ts, R.c.gas_ppm, R.c.temperature_c, R.c.humidity_pct)
            .where(R.c.device_id == device_id, R.c.ts > ts)
            .order_by(R.c.ts)
        )
        async with self.engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(q)).all()]
