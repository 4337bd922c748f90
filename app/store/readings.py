"""Readings history in the store: batched inserts, downsampled range queries, retention."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Connection, Table, cast, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.models import ReadingRow

T: Table = ReadingRow.__table__  # type: ignore[assignment]  # a Table at run time
ReadingTuple = tuple[str, float, float, float, float]  # device, ts, gas, temp, rh


class FastRepo:
    """A repository whose writes no one waits to see: they run through ``transaction``
    (:meth:`app.store.repo.Store.transaction` on its no-fsync engine); reads use ``engine``.

    Args:
        engine: the no-fsync engine, for reads.
        write_lock: the store's write lock.
        transaction: ``Store.transaction`` on the no-fsync engine.
        serial: every ``transaction`` runs in turn on the store's one writer thread (SQLite),
            so a write that depends on no other needs no write lock (:meth:`writing`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        write_lock: asyncio.Lock,
        transaction: Callable[[Callable[[Connection], Any]], Awaitable[Any]],
        *,
        serial: bool = False,
    ) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self._transaction = transaction  # Store.transaction on its no-fsync engine
        self.serial = serial

    async def writing(self, fn: Callable[[Connection], Any]) -> Any:
        """Run ``fn`` in one transaction, in turn with the store's other writes.

        On SQLite the writer thread runs transactions one at a time, in the order they were
        handed to it, and other connections' writes wait on SQLite's busy timeout, so the
        write lock is not taken: an asyncio lock is released only when the event loop next
        runs the holder, and under load that turn (10-50 ms) was most of the time each
        history write held the lock while alert events waited for it (``python -m bench``
        stage trace, README Performance). Elsewhere the write lock is held.
        """
        if self.serial:
            return await self._transaction(fn)
        async with self.write_lock:
            return await self._transaction(fn)


#: Rows per INSERT statement on SQLite: 5 parameters a row stays under SQLite's default
#: limit of 32,766 bound parameters (``SQLITE_MAX_VARIABLE_NUMBER`` since 3.32).
SQLITE_ROWS_PER_INSERT = 1000
_COLUMNS = ("device_id", "ts", "gas_ppm", "temperature_c", "humidity_pct")


def _insert_sqlite(conn: Connection, rows: Sequence[ReadingTuple]) -> None:
    """Insert ``rows`` with multi-row ``INSERT ... VALUES`` statements of up to
    :data:`SQLITE_ROWS_PER_INSERT` rows (the driver's own parameter binding): a few
    statements instead of one compiled parameter set a row (``executemany``), so the
    writer thread spends far less time holding, or waiting for, the GIL that the event
    loop needs."""
    head = f"INSERT INTO {T.name} ({', '.join(_COLUMNS)}) VALUES "
    for i in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
        chunk = rows[i : i + SQLITE_ROWS_PER_INSERT]
        flat = tuple(v for row in chunk for v in row)
        conn.exec_driver_sql(head + ",".join(["(?,?,?,?,?)"] * len(chunk)), flat)


class ReadingsRepo(FastRepo):
    """Readings rows; writes take the store's write lock."""

    async def add(self, rows: Sequence[ReadingTuple]) -> None:
        """Insert readings in one transaction (:meth:`app.store.repo.Store.transaction`)."""
        if not rows:
            return
        if self.engine.dialect.name == "sqlite":
            await self.writing(lambda conn: _insert_sqlite(conn, rows))
            return
        params = [
            {"device_id": d, "ts": ts, "gas_ppm": g, "temperature_c": t, "humidity_pct": h}
            for d, ts, g, t, h in rows
        ]
        await self.writing(lambda conn: conn.execute(insert(T), params))

    async def history(
        self, device_id: str, *, start: float, end: float, bucket_s: float
    ) -> list[dict[str, Any]]:
        """Readings of a device in ``[start, end)`` averaged per ``bucket_s`` seconds.

        Returns:
            One dict per non-empty bucket, oldest first: ``bucket`` (index from ``start``),
            ``n``, ``gas_mean``, ``gas_min``, ``gas_max``, ``temp_mean``, ``rh_mean``.
        """
        offset = (T.c.ts - start) / bucket_s
        if self.engine.dialect.name == "sqlite":  # CAST truncates; ts >= start, so it floors
            bucket = cast(offset, BigInteger).label("bucket")
        else:
            bucket = cast(func.floor(offset), BigInteger).label("bucket")
        q = (
            select(
                bucket,
                func.count().label("n"),
                func.avg(T.c.gas_ppm).label("gas_mean"),
                func.min(T.c.gas_ppm).label("gas_min"),
                func.max(T.c.gas_ppm).label("gas_max"),
                func.avg(T.c.temperature_c).label("temp_mean"),
                func.avg(T.c.humidity_pct).label("rh_mean"),
            )
            .where(T.c.device_id == device_id, T.c.ts >= start, T.c.ts < end)
            .group_by(bucket)
            .order_by(bucket)
        )
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def last_ts(self, device_id: str) -> float | None:
        """Time of the device's newest stored reading, epoch s; None when it has none."""
        q = select(func.max(T.c.ts)).where(T.c.device_id == device_id)
        async with self.engine.connect() as conn:
            value = (await conn.execute(q)).scalar()
        return None if value is None else float(value)

    async def prune(self, before_ts: float) -> int:
        """Delete readings older than ``before_ts``; returns how many."""
        async with self.write_lock, self.engine.begin() as conn:
            result = await conn.execute(delete(T).where(T.c.ts < before_ts))
        return int(result.rowcount or 0)
