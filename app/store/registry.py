"""Device registry and silences in the store (small tables, read whole at start-up)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.models import Device, SilenceRow

PROFILE_COLUMNS = (
    "name",
    "location",
    "gas",
    "low_pct_lel",
    "high_pct_lel",
    "enabled",
    "unit",
    "low_set_point",
    "high_set_point",
    "zero",
    "polarity",
)


class DevicesRepo:
    """Registered devices; writes take the store's write lock."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def all(self) -> list[dict[str, Any]]:
        """Every registered device row, by id."""
        async with self.engine.connect() as conn:
            return [
                dict(r._mapping)
                for r in (
                    await conn.execute(select(Device.__table__).order_by(Device.device_id))
                ).all()
            ]

    async def add(self, device_ids: Sequence[str], now: float) -> None:
        """Register devices with the default profile (callers pass ids not registered yet)."""
        if not device_ids:
            return
        rows = [
            {"device_id": d, "enabled": True, "created_at": now, "updated_at": now}
            for d in device_ids
        ]
        async with self.write_lock, self.engine.begin() as conn:
            have = set(
                (
                    await conn.execute(
                        select(Device.device_id).where(Device.device_id.in_(list(device_ids)))
                    )
                ).scalars()
            )
            rows = [r for r in rows if r["device_id"] not in have]
            if rows:
                await conn.execute(insert(Device), rows)

    async def put(self, device_id: str, profile: dict[str, Any], now: float) -> None:
        """Create or replace a device's profile (``PROFILE_COLUMNS``)."""
        values = {k: profile[k] for k in PROFILE_COLUMNS}
        async with self.write_lock, self.engine.begin() as conn:
            n = (
                await conn.execute(
                    update(Device)
                    .where(Device.device_id == device_id)
                    .values(**values, updated_at=now)
                )
            ).rowcount
            if not n:
                await conn.execute(
                    insert(Device).values(
                        device_id=device_id, created_at=now, updated_at=now, **values
                    )
                )


class SilencesRepo:
    """Silences; never deleted (expired ones stay listed)."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def all(self) -> list[dict[str, Any]]:
        """Every silence row."""
        async with self.engine.connect() as conn:
            return [
                dict(r._mapping) for r in (await conn.execute(select(SilenceRow.__table__))).all()
            ]

    async def put(self, row: dict[str, Any]) -> None:
        """Insert or replace one silence."""
        async with self.write_lock, self.engine.begin() as conn:
            n = (
                await conn.execute(
                    update(SilenceRow)
                    .where(SilenceRow.silence_id == row["silence_id"])
                    .values(**row)
                )
            ).rowcount
            if not n:
                await conn.execute(insert(SilenceRow).values(**row))
