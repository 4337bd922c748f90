"""Device snapshots in the store: each device's ring buffer and signal model, saved
periodically and at shutdown, read back at start-up (``app/services/snapshots.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, exists, insert, select

from app.store.models import Device, DeviceSnapshot, ReadingRow
from app.store.readings import FastRepo

S: Table = DeviceSnapshot.__table__  # type: ignore[assignment]  # a Table at run time
R: Table = ReadingRow.__table__  # type: ignore[assignment]
D: Table = Device.__table__  # type: ignore[assignment]
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

    async def unsaved_devices(
        self, *, since: float, after_id: str = "", limit: int = CHUNK
    ) -> list[str]:
        """Registered devices with readings history newer than ``since`` (epoch s) but no
        snapshot saved at or after it (first seen after the last save of a process that was
        then killed), whose id sorts after ``after_id``: up to ``limit`` ids in id order
        (pages: pass the last id back). One query; each device's test is an indexed lookup
        (``ix_readings_device_ts``, the snapshots' primary key), not a scan of the
        history."""
        saved = exists().where(S.c.device_id == D.c.device_id, S.c.saved_at >= since)
        heard = exists().where(R.c.device_id == D.c.device_id, R.c.ts > since)
        q = (
            select(D.c.device_id)
            .where(D.c.device_id > after_id, ~saved, heard)
            .order_by(D.c.device_id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return list((await conn.execute(q)).scalars().all())

    async def recent_readings(
        self, device_ids: Sequence[str], *, since: float, limit: int
    ) -> list[tuple[str, float, float, float, float]]:
        """The last ``limit`` readings of each device newer than ``since`` (epoch s), each
        device's oldest first: (device_id, ts, gas, °C, %RH) tuples, the devices one after
        the other. One indexed range query a device, read backwards from its newest
        (``ix_readings_device_ts``), all in one transaction (on SQLite on the store's writer
        thread with ``sqlite3``: one thread hop, not one per query; through ``aiosqlite`` the
        1,000 queries of 1,000 devices took ~1 s more)."""

        q = (  # built once: building and compiling a statement a device cost ~0.7 ms each
            select(R.c.ts, R.c.gas_ppm, R.c.temperature_c, R.c.humidity_pct)
            .where(R.c.device_id == bindparam("d"), R.c.ts > since)
            .order_by(R.c.ts.desc(), R.c.id.desc())  # ties: in the order stored
            .limit(limit)
        )

        def read(conn: Connection) -> list[tuple[str, float, float, float, float]]:
            out: list[tuple[str, float, float, float, float]] = []
            for d in device_ids:
                rows = conn.execute(q, {"d": d}).all()
                out.extend((d, *r) for r in reversed(rows))
            return out

        async with self.write_lock:
            out: list[tuple[str, float, float, float, float]] = await self._transaction(read)
        return out
