"""Webhook deliveries in the store: one row per (event, receiver URL).

Rows are created pending in the same transaction as their event, so a delivery is never
lost to a crash between writing an event and handing it to the webhook workers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    and_,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.models import Delivery, Event

T: Table = Delivery.__table__  # type: ignore[assignment]  # a Table at run time
#: 4xx statuses that say "not now" to any event rather than refusing this one: 408
#: (timeout), 425 (too early), 429 (rate limited) (``app.services.webhooks.refused``).
NOT_NOW = (408, 425, 429)


def _refused() -> ColumnElement[bool]:
    """SQL: the delivery's last answer refused its event (a 4xx but :data:`NOT_NOW`; a
    delivery never answered, NULL, was not refused)."""
    status = func.coalesce(T.c.last_status, 0)
    return and_(status >= 400, status < 500, status.not_in(NOT_NOW))


class DeliveriesRepo:
    """Reads and updates delivery rows; writes take the store's write lock."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock) -> None:
        self.engine = engine
        self.write_lock = write_lock

    @staticmethod
    def add(conn: Connection, event_ids: Sequence[int], urls: Sequence[str], now: float) -> None:
        """Create pending deliveries inside the caller's (event-writing) transaction (a sync
        connection: :meth:`app.store.repo.Store.transaction`)."""
        rows = [
            {
                "url": u,
                "event_id": e,
                "status": "pending",
                "attempts": 0,
                "created_at": now,
                "next_attempt_at": now,
            }
            for e in event_ids
            for u in urls
        ]
        conn.execute(insert(Delivery), rows)

    async def pending(
        self, url: str, limit: int = 100, *, now: float | None = None
    ) -> list[dict[str, Any]]:
        """The oldest pending deliveries of one receiver with their event, by event id, at
        most ``limit``.

        ``now`` (epoch s): leave out those whose event the receiver refused (a 4xx but
        408, 425, 429) and whose retry is not due by then: they wait on their own schedule
        while the events after them go on, so the worker skips them anyway. Read with
        them, ``limit`` refused events took every row of the page, and the receiver got no
        newer event until one was due again (up to the backoff cap, 300 s, for as long as
        a day, until they expired)."""
        q = (
            select(T, Event.data)
            .join(Event, Event.event_id == T.c.event_id)
            .where(T.c.url == url, T.c.status == "pending")
            .order_by(T.c.event_id)
            .limit(limit)
        )
        if now is not None:
            q = q.where(or_(T.c.next_attempt_at <= now, not_(_refused())))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        out = []
        for r in rows:
            m = dict(r._mapping)
            data = m.pop("data")
            out.append({**m, "event": {"event_id": m["event_id"], **data}})
        return out

    async def next_due(self, url: str) -> float | None:
        """The earliest ``next_attempt_at`` (epoch s) of one receiver's pending deliveries;
        None when it has none."""
        q = select(func.min(T.c.next_attempt_at)).where(T.c.url == url, T.c.status == "pending")
        async with self.engine.connect() as conn:
            due = (await conn.execute(q)).scalar()
        return None if due is None else float(due)

    async def record_attempt(
        self,
        delivery_id: int,
        *,
        status: str,
        now: float,
        http_status: int | None,
        error: str | None,
        next_attempt_at: float | None = None,
    ) -> None:
        """Store one attempt's outcome: ``status`` pending (retry), delivered or expired."""
        values: dict[str, Any] = {
            "status": status,
            "attempts": T.c.attempts + 1,
            "last_attempt_at": now,
            "last_status": http_status,
            "last_error": None if error is None else error[:500],
        }
        if status == "delivered":
            values["delivered_at"] = now
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        async with self.write_lock, self.engine.begin() as conn:
            await conn.execute(update(T).where(T.c.delivery_id == delivery_id).values(**values))

    async def newest_id(self) -> int:
        """The newest delivery's id (0 = none): the end of the range of cursors."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.max(T.c.delivery_id)))).scalar() or 0)

    async def list(
        self,
        *,
        url: str | None = None,
        status: str | None = None,
        event_id: int | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Delivery rows oldest first, filtered; ``after_id`` is the page cursor."""
        q = select(T).order_by(T.c.delivery_id).limit(limit)
        for col, v in ((T.c.url, url), (T.c.status, status), (T.c.event_id, event_id)):
            if v is not None:
                q = q.where(col == v)
        if after_id is not None:
            q = q.where(T.c.delivery_id > after_id)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def counts(self) -> dict[str, dict[str, int]]:
        """URL -> status -> number of deliveries."""
        q = select(T.c.url, T.c.status, func.count()).group_by(T.c.url, T.c.status)
        out: dict[str, dict[str, int]] = {}
        async with self.engine.connect() as conn:
            for url, status, n in (await conn.execute(q)).all():
                out.setdefault(url, {})[status] = int(n)
        return out
