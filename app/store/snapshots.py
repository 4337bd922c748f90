"""Device snapshots in the store: each device's ring buffer and signal model, saved
periodically and at shutdown, read back at start-up (``app/services/snapshots.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.models import DeviceSnapshot, ReadingRow

S: Table = DeviceSnapshot.__table__  # type: ignore[assignment]  # a Table at run time
R: Table = ReadingRow.__table__  # type: ignore[assignment]
#: Rows per transaction: each holds the store's write lock for a few ms (1,000 readings
#: history rows took ~10 ms), so an alert event waits for at most one chunk.
CHUNK = 500


class SnapshotsRepo:
    """``device_snapshots`` rows; writes take the store's write lock, one chunk at a time."""

    def __init__(
        self,
        engine: AsyncEngine,
        write_lock: asyncio.Lock,
        transaction: Callable[[Callable[[Connection], Any]], Awaitable[Any]],
    ) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self._transaction = transaction  # Store.transaction on its no-fsync engine

    async def save(self, rows: Sequence[dict[str, Any]], *, prune_before: float) -> None:
        """Replace the rows of these devices (dicts with every column), :data:`CHUNK` per
        transaction; then delete rows saved before ``prune_before`` (epoch s: devices gone
        idle, which the service has evicted)."""
        for i in range(0, len(rows), CHUNK):
            chunk = list(rows[i : i + CHUNK])

            def write(conn: Connection, chunk: list[dict[str, Any]] = chunk) -> None:
                ids = [r["device_id"] for r in chunk]
                conn.execute(delete(S).where(S.c.device_id.in_(ids)))
                conn.execute(insert(S), chunk)

            async with self.write_lock:
                await self._transaction(write)
        async with self.write_lock:
            await self._transaction(
                lambda conn: conn.execute(delete(S).where(S.c.saved_at < prune_before))
            )

    async def load(self, *, saved_after: float) -> list[dict[str, Any]]:
        """Every row saved after ``saved_after`` (epoch s), as dicts, oldest save first."""
        q = select(S).where(S.c.saved_at >= saved_after).order_by(S.c.saved_at)
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
