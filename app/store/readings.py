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
    """A repository whose writes no one waits to see: they take the store's write lock and
    run through ``transaction`` (:meth:`app.store.repo.Store.transaction` on its no-fsync
    engine); reads use ``engine``."""

    def __init__(
        self,
        engine: AsyncEngine,
        write_lock: asyncio.Lock,
        transaction: Callable[[Callable[[Connection], Any]], Awaitable[Any]],
    ) -> None:
        self.engine = engine
        self.write_lock = write_lock
        self._transaction = transaction  # Store.transaction on its no-fsync engine


class ReadingsRepo(FastRepo):
    """Readings rows; writes take the store's write lock."""

    async def add(self, rows: Sequence[ReadingTuple]) -> None:
        """Insert readings in one transaction (:meth:`app.store.repo.Store.transaction`)."""
        if not rows:
            return
        params = [
            {"device_id": d, "ts": ts, "gas_ppm": g, "temperature_c": t, "humidity_pct": h}
            for d, ts, g, t, h in rows
        ]
        async with self.write_lock:
            await self._transaction(lambda conn: conn.execute(insert(T), params))

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
