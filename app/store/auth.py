"""API keys and the audit log in the store. Writes take the store's write lock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.models import ApiKey, AuditRow


class KeysRepo:
    """Rows of ``api_keys`` (hashes only; a key's secret is never stored)."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def add(self, row: dict[str, Any]) -> None:
        """Insert one key row (columns of :class:`app.store.models.ApiKey`)."""
        async with self.write_lock, self.engine.begin() as conn:
            await conn.execute(insert(ApiKey).values(**row))

    async def get(self, key_id: str) -> dict[str, Any] | None:
        """One key row, revoked or not; None when the id is unknown."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(ApiKey.__table__).where(ApiKey.key_id == key_id))
            ).first()
        return None if row is None else dict(row._mapping)

    async def all(self) -> list[dict[str, Any]]:
        """Every key row, oldest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(ApiKey.__table__).order_by(ApiKey.created_at, ApiKey.key_id)
                )
            ).all()
        return [dict(r._mapping) for r in rows]

    async def revoke(self, key_id: str, *, by: str, now: float) -> bool:
        """Mark a key revoked; False when it is unknown or already revoked."""
        async with self.write_lock, self.engine.begin() as conn:
            n = (
                await conn.execute(
                    update(ApiKey)
                    .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_by=by)
                )
            ).rowcount
        return bool(n)


class AuditRepo:
    """Rows of ``audit_log``, newest first by ``audit_id``."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock) -> None:
        self.engine = engine
        self.write_lock = write_lock

    async def add(self, row: dict[str, Any]) -> int:
        """Insert one entry (columns of :class:`app.store.models.AuditRow`); its id."""
        async with self.write_lock, self.engine.begin() as conn:
            stmt = insert(AuditRow).values(**row).returning(AuditRow.audit_id)
            return int((await conn.execute(stmt)).scalar_one())

    async def newest_id(self) -> int:
        """The newest entry's ``audit_id`` (0 = none): the end of the range of cursors."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.max(AuditRow.audit_id)))).scalar() or 0)

    async def page(
        self,
        *,
        before: int | None,
        limit: int,
        actions: Sequence[str] | None = None,
        actor_key_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` entries with ``audit_id < before`` (all when None), newest first."""
        stmt = select(AuditRow.__table__).order_by(AuditRow.audit_id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(AuditRow.audit_id < before)
        if actions:
            stmt = stmt.where(AuditRow.action.in_(actions))
        if actor_key_id is not None:
            stmt = stmt.where(AuditRow.actor_key_id == actor_key_id)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(stmt)).all()]
