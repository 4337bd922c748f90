"""The store's engine, migrations and the event / alert / policy-state half of the repository.

All writes go through :attr:`Store.write_lock` (one writer at a time in this process), so
SQLite never answers "database is locked" between our own writers, and event ids are
assigned in the order events are published. Times are epoch seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    case,
    create_engine,
    delete,
    event,
    func,
    insert,
    literal,
    make_url,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import aliased

from app.alerting.events import OPEN_STATES, AlertEvent, AlertState, EventType, Severity
from app.store.auth import AuditRepo, KeysRepo
from app.store.models import Alert, Event, PolicyState, SafetyState
from app.store.readings import ReadingsRepo
from app.store.registry import DevicesRepo, SilencesRepo
from app.store.snapshots import SnapshotsRepo
from app.store.webhooks import DeliveriesRepo

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
R = TypeVar("R")
SEVERITY_RANK = {s.value: s.rank for s in Severity}


def _peak_after(severity: Severity) -> ColumnElement[str]:
    """SQL for an alert row's ``peak_severity`` after an event of ``severity``: the higher
    of the two (:func:`app.alerting.events.higher`; a row without one, NULL, takes the
    event's)."""
    at_least = [s.value for s in Severity if s.rank >= severity.rank]
    return case(
        (Alert.peak_severity.in_(at_least), Alert.peak_severity), else_=literal(severity.value)
    )


#: Tables of the per-device state kinds that :meth:`Store.append` persists.
#: PostgreSQL advisory-lock key held by every event insert until its commit, so event ids
#: become visible in id order across processes (cluster replicas share one event log): a
#: reader of ``event_id > n`` never sees id n+2 committed before n+1 and skips n+1.
EVENT_ID_LOCK = 0x6A5_1EA4
#: PostgreSQL advisory-lock key held while migrating.
MIGRATE_LOCK = 0x6A5_1EA5
STATE_TABLES: dict[str, type[PolicyState] | type[SafetyState]] = {
    "leak": PolicyState,
    "safety": SafetyState,
}


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    """Set WAL, ``synchronous`` and a 30 s busy timeout on each new connection of ``engine``
    (a sync engine, or an async engine's ``sync_engine``)."""

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"synchronous={synchronous}",
            "busy_timeout=30000",
            # no commit checkpoints the WAL (a 4 MB copy and two fsyncs while holding the
            # write lock); Store.checkpoint does it beside the writers
            "wal_autocheckpoint=0",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()


def make_engine(url: str, *, synchronous: str = "FULL") -> AsyncEngine:
    """An async engine; SQLite gets WAL, ``synchronous`` (FULL) and a 30 s busy timeout.

    WAL with FULL makes each committed transaction survive ``kill -9`` and power loss (the
    WAL is fsync'd at every commit). NORMAL (SQLite docs, "WAL mode"): a commit survives
    ``kill -9`` and is consistent after a power loss, but the last commits before a power
    loss may be rolled back; it saves the fsync, so a commit takes well under a millisecond.
    """
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _sqlite_pragmas(engine.sync_engine, synchronous)
        return engine
    return create_async_engine(url, pool_size=5, max_overflow=5, pool_pre_ping=True)


def make_sync_engine(url: str, *, synchronous: str) -> Engine:
    """The sync (``sqlite3``) engine of an ``sqlite+aiosqlite`` URL, with the pragmas of
    :func:`make_engine`, for :meth:`Store.transaction`'s writer thread.

    Raises:
        ValueError: ``url`` is not an SQLite URL, or names an in-memory database (each
            connection would get its own empty one: the writer's and the readers' differ).
    """
    if not url.startswith("sqlite"):
        raise ValueError(f"not an SQLite URL: {url!r}")
    sync_url = make_url(url).set(drivername="sqlite")
    if sync_url.database in (None, "", ":memory:") or "mode=memory" in url:
        raise ValueError(
            f"the store needs an SQLite file, not an in-memory database: {url!r} "
            "(set GASLEAK_DB_PATH or a sqlite+aiosqlite:///path URL)"
        )
    # one thread (the writer's) uses these connections; dispose may run on another
    engine = create_engine(sync_url, connect_args={"timeout": 30, "check_same_thread": False})
    _sqlite_pragmas(engine, synchronous)
    return engine


def _upgrade(connection: Connection) -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines drown the service's
    from alembic import command  # imported late: importing it logs plugin set-up at INFO
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


class Store:
    """The repository over one database.

    Args:
        url: SQLAlchemy async URL (``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://``).
    """

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite") and ":///" in url:
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine = make_engine(url)
        self.write_lock = asyncio.Lock()
        # Commits that no one is waiting to see skip the fsync on SQLite (synchronous=NORMAL
        # on their own connections): readings history, and per-device states changed without
        # an event. They survive kill -9; a power loss may roll back the last of them (never
        # an event: the next event's FULL commit fsyncs the WAL with everything before it).
        # The writer then holds the write lock for well under a millisecond instead of an
        # fsync, so alert events rarely wait behind it (python -m bench.store --contended).
        self.fast_engine = (
            make_engine(url, synchronous="NORMAL") if url.startswith("sqlite") else self.engine
        )
        # SQLite writes on the hot path (events, states, readings history) run whole on one
        # writer thread with sync engines: one thread hop per transaction instead of one per
        # statement through aiosqlite (:meth:`transaction`)
        self._sync: dict[bool, Engine] = {}
        self._writer: ThreadPoolExecutor | None = None
        if url.startswith("sqlite"):
            self._sync = {
                False: make_sync_engine(url, synchronous="FULL"),
                True: make_sync_engine(url, synchronous="NORMAL"),
            }
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        self.readings = ReadingsRepo(
            self.fast_engine,
            self.write_lock,
            lambda fn: self.transaction(fn, fast=True),
            serial=self._writer is not None,
        )
        self.snapshots = SnapshotsRepo(
            self.fast_engine, self.write_lock, lambda fn: self.transaction(fn, fast=True)
        )
        self.deliveries = DeliveriesRepo(self.engine, self.write_lock)
        self.devices = DevicesRepo(self.engine, self.write_lock)
        self.silences = SilencesRepo(self.engine, self.write_lock)
        self.keys = KeysRepo(self.engine, self.write_lock)
        self.audit = AuditRepo(self.engine, self.write_lock)

    async def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent). On PostgreSQL the
        upgrade holds an advisory lock, so replicas starting together migrate one at a time
        (the later ones find the schema at head)."""
        async with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATE_LOCK})
            await conn.run_sync(_upgrade)
        log.info("store %s: schema at the newest revision", self.engine.url.render_as_string())

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file (``wal_checkpoint(PASSIVE)``), without
        the write lock, so writers go on meanwhile; called every second by the lifespan.
        Other databases: nothing to do."""
        if self.engine.dialect.name == "sqlite":
            async with self.fast_engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def transaction(self, fn: Callable[[Connection], R], *, fast: bool = False) -> R:
        """Run ``fn(conn)`` in one transaction and commit; its result. Call with
        :attr:`write_lock` held.

        SQLite: on the writer thread with a sync engine, so the whole transaction is one
        hop off the event loop (through aiosqlite every statement and the commit is one:
        each waits for the event loop's thread to hand over the GIL, which is what held an
        alert's commit at 17-28 ms under load). Other databases: ``AsyncConnection.run_sync``
        on the async engine (SQLAlchemy's way to run sync code on an async connection).

        Args:
            fn: the statements, on a sync :class:`sqlalchemy.Connection`.
            fast: use the no-fsync engine (``synchronous=NORMAL`` on SQLite): for writes no
                one waits to see (readings history, states changed without an event).
        """
        if self._writer is not None:
            engine = self._sync[fast]

            def run() -> R:
                with engine.begin() as conn:
                    return fn(conn)

            return await asyncio.get_running_loop().run_in_executor(self._writer, run)
        async with (self.fast_engine if fast else self.engine).begin() as conn:
            return await conn.run_sync(fn)

    async def close(self) -> None:
        """Close every pooled connection (and the writer thread)."""
        if self._writer is not None:
            loop = asyncio.get_running_loop()
            for engine in self._sync.values():
                await loop.run_in_executor(self._writer, engine.dispose)
            self._writer.shutdown(wait=True)
        if self.fast_engine is not self.engine:
            await self.fast_engine.dispose()
        await self.engine.dispose()

    async def append(
        self,
        events: Sequence[tuple[AlertEvent, dict[str, Any]]],
        *,
        states: dict[str, dict[str, dict[str, Any] | None]] | None = None,
        webhook_urls: Sequence[str] = (),
        now: float,
    ) -> list[int]:
        """Write events, their alerts' new state, per-device states and webhook deliveries
        (none for silenced events) in one transaction. Call with :attr:`write_lock` held.
        Without events (states only) the commit goes through :attr:`fast_engine`.

        Args:
            events: (event, its wire object without ``event_id``) pairs, in order.
            states: state kind ("leak", "safety") -> device -> state to store, or None to
                delete it.
            webhook_urls: a pending delivery is created per unsilenced event per URL.
            now: epoch seconds, the publication time.

        Returns:
            The new event ids, in the order of ``events`` (strictly increasing).
        """
        rows = [
            {
                "type": e.type.value,
                "alert_id": e.alert_id,
                "device_id": e.device_id,
                "kind": e.kind.value,
                "severity": e.severity.value,
                "ts": e.ts,
                "published_at": now,
                "data": data,
                "silenced": e.silenced,
            }
            for e, data in events
        ]
        postgres = self.engine.dialect.name == "postgresql"

        def write(conn: Connection) -> list[int]:
            ids: list[int] = []
            if rows and postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EVENT_ID_LOCK})
            if rows:
                stmt = insert(Event).returning(Event.event_id, sort_by_parameter_order=True)
                ids = [int(i) for i in conn.execute(stmt, rows).scalars()]
                self._project(conn, [e for e, _ in events], ids, now)
            for kind, changed in (states or {}).items():
                self._save_states(conn, STATE_TABLES[kind], changed, now)
            loud = [i for i, (e, _) in zip(ids, events, strict=True) if not e.silenced]
            if webhook_urls and loud:
                DeliveriesRepo.add(conn, loud, webhook_urls, now)
            return ids

        return await self.transaction(write, fast=not rows)

    @staticmethod
    def _project(
        conn: Connection, events: Sequence[AlertEvent], ids: Sequence[int], now: float
    ) -> None:
        """Apply events to their alerts: one insert for the raised, then the others in order."""
        raised = [
            {
                "alert_id": e.alert_id,
                "device_id": e.device_id,
                "kind": e.kind.value,
                "state": e.state.value,
                "severity": e.severity.value,
                "peak_severity": e.severity.value,
                "probability": e.probability,
                "gas_ppm": e.gas_ppm,
                "gas_unit": e.gas_unit,
                "gas_pct_lel": e.gas_pct_lel,
                "silenced": e.silenced,
                "unannounced": e.silenced,  # open: owed its state once no silence matches
                "episode": None if e.episode is None else e.episode.to_wire(e.gas_unit),
                "opened_ts": e.ts,
                "updated_ts": e.ts,
                "last_event_id": eid,
                "notified_at": now,
            }
            for e, eid in zip(events, ids, strict=True)
            if e.type == EventType.RAISED
        ]
        if raised:
            conn.execute(insert(Alert), raised)
        for e, eid in zip(events, ids, strict=True):
            if e.type == EventType.RAISED:
                continue
            values: dict[str, Any] = {
                "state": e.state.value,
                "severity": e.severity.value,
                "peak_severity": _peak_after(e.severity),
                "updated_ts": e.ts,
                "last_event_id": eid,
                "silenced": e.silenced,
                "unannounced": Store._unannounced(e),
            }
            if e.episode is not None:
                values["episode"] = e.episode.to_wire(e.gas_unit)
            if e.type == EventType.ACKNOWLEDGED and e.ack is not None:
                values |= {"ack_author": e.ack.author, "ack_comment": e.ack.comment, "ack_at": e.ts}
            elif e.type != EventType.REMINDER:
                values |= {
                    "probability": e.probability,
                    "gas_ppm": e.gas_ppm,
                    "gas_unit": e.gas_unit,
                    "gas_pct_lel": e.gas_pct_lel,
                }
            if e.type in (EventType.REMINDER, EventType.UPDATED):
                values["notified_at"] = now
            if e.type == EventType.UPDATED and e.state == AlertState.ACTIVE:
                # a re-alarm (a leak that worsened) returns an acknowledged alert to
                # unacknowledged: the acknowledgement stays in the event log only
                values |= {"ack_author": None, "ack_comment": None, "ack_at": None}
            if e.type == EventType.RESOLVED:
                values["resolved_ts"] = e.ts
            where = Alert.alert_id == e.alert_id
            conn.execute(update(Alert).where(where).values(**values))

    @staticmethod
    def _unannounced(e: AlertEvent) -> bool | ColumnElement[bool]:
        """The ``unannounced`` value of an alert after event ``e`` (not a raise): false
        after an unsilenced event (subscribers and webhooks heard it); true after a silenced
        one that leaves it open; after a silenced resolution, whether any event of the alert
        was announced (SQL, over the events already written in this transaction): an alarm
        they heard raised is owed its end, one raised and resolved under silences owes
        nothing."""
        if not e.silenced:
            return False
        if e.state in OPEN_STATES:
            return True
        return (
            select(Event.event_id)
            .where(Event.alert_id == e.alert_id, Event.silenced.is_(False))
            .exists()
        )

    @staticmethod
    def _save_states(
        conn: Connection,
        table: type[PolicyState] | type[SafetyState],
        states: dict[str, dict[str, Any] | None],
        now: float,
    ) -> None:
        if not states:
            return
        keys = list(states)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            conn.execute(delete(table).where(table.device_id.in_(chunk)))
        rows = [{"device_id": d, "data": s, "updated_at": now} for d, s in states.items() if s]
        if rows:
            conn.execute(insert(table), rows)

    async def last_event_id(self) -> int:
        """Newest event id written so far (0 = none)."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.max(Event.event_id)))).scalar() or 0)

    async def states(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every persisted per-device state of one kind ("leak", "safety"), device -> dict."""
        table = STATE_TABLES[kind]
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(table.device_id, table.data))).all()
        return {d: data for d, data in rows}

    async def events_after(
        self,
        after: int,
        *,
        upto: int | None = None,
        device_ids: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None,
        min_severity: str | None = None,
        include_silenced: bool = True,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """Events with ``after < event_id <= upto`` that pass the filters, oldest first.

        ``min_severity``: an event passes when its alert has reached that severity by this
        event (the event's own severity, or an earlier event of the same alert had it),
        the rule of the live fan-out (:meth:`app.services.hub.EventFilter.wants`): a
        critical alarm de-escalated to warning is still heard to its end.
        """
        q = select(Event.event_id, Event.data).where(Event.event_id > after)
        q = q.order_by(Event.event_id).limit(limit)
        if upto is not None:
            q = q.where(Event.event_id <= upto)
        if device_ids is not None:
            q = q.where(Event.device_id.in_(list(device_ids)))
        if kinds is not None:
            q = q.where(Event.kind.in_(list(kinds)))
        if min_severity is not None:
            ok = [s for s, r in SEVERITY_RANK.items() if r >= SEVERITY_RANK[min_severity]]
            earlier = aliased(Event)
            reached = (
                select(earlier.event_id)
                .where(
                    earlier.alert_id == Event.alert_id,
                    earlier.event_id < Event.event_id,
                    earlier.severity.in_(ok),
                )
                .exists()
            )
            q = q.where(or_(Event.severity.in_(ok), reached))
        if not include_silenced:
            q = q.where(Event.silenced.is_(False))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        return [{"event_id": eid, **data} for eid, data in rows]

    async def open_alert_peaks(self) -> dict[str, Severity]:
        """Alert id -> the highest severity among its events, of every open alert (what
        the fan-out hub filters on, :meth:`app.services.hub.Hub.seed_peaks`)."""
        q = (
            select(Event.alert_id, Event.severity)
            .join(Alert, Alert.alert_id == Event.alert_id)
            .where(Alert.state.in_([s.value for s in OPEN_STATES]))
            .distinct()
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
        out: dict[str, Severity] = {}
        for aid, sev in rows:
            s = Severity(sev)
            if aid not in out or s.rank > out[aid].rank:
                out[aid] = s
        return out

    async def open_alerts(self) -> list[dict[str, Any]]:
        """Alert rows not resolved (every kind)."""
        t = Alert.__table__
        q = select(t).where(t.c.state.in_([s.value for s in OPEN_STATES]))
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def due_reminders(
        self,
        *,
        notified_before: float,
        after_seq: int = 0,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        """One page of the open critical alerts not acknowledged whose last notification is
        older than ``notified_before`` (wall-clock epoch s; alerts stored before
        notification times were kept, NULL, count as due): at most ``limit`` rows with
        ``seq > after_seq``, in ``seq`` order. Page on with the last row's ``seq``
        (:meth:`app.services.alerts.AlertService.remind` does): a caller that skips some
        rows (silenced, another replica's) must not stop at the first page, or ``limit``
        such rows hold it for good (their notification time never moves)."""
        t = Alert.__table__
        q = (
            select(t)
            .where(
                t.c.severity == Severity.CRITICAL.value,
                t.c.state.in_(["active", "cleared_unacked"]),
                or_(t.c.notified_at <= notified_before, t.c.notified_at.is_(None)),
                t.c.seq > after_seq,
            )
            .order_by(t.c.seq)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def unannounced_alerts(
        self, *, after_seq: int = 0, limit: int = 500
    ) -> list[dict[str, Any]]:
        """One page of the alerts owed their current state (``unannounced``: the last event
        was silenced, and the alert is open or subscribers and webhooks heard an earlier
        event of it, so a resolution under a silence is owed too): at most ``limit`` rows
        with ``seq > after_seq``, oldest first, read through ``ix_alerts_unannounced``
        (the rows owed, not the alert history). Page on with the last row's ``seq``: rows
        that a silence still matches stay in this set, and a caller that stopped at the
        first page would never reach the others."""
        t = Alert.__table__
        q = (
            select(t)
            .where(t.c.unannounced == true(), t.c.seq > after_seq)
            .order_by(t.c.seq)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]

    async def events_of_alert(self, alert_id: str) -> list[dict[str, Any]]:
        """Every event of one alert, oldest first."""
        q = select(Event.event_id, Event.data).where(Event.alert_id == alert_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q.order_by(Event.event_id))).all()
        return [{"event_id": eid, **data} for eid, data in rows]

    async def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        """One alert row as a dict, or None."""
        t = Alert.__table__
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.alert_id == alert_id))).first()
        return None if row is None else dict(row._mapping)

    async def newest_alert_seq(self) -> int:
        """The newest alert's ``seq`` (0 = none): the end of the range of
        ``/api/alerts`` cursors (alerts are never deleted; ``seq`` never goes back)."""
        t = Alert.__table__
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.max(t.c.seq)))).scalar() or 0)

    async def list_alerts(
        self,
        *,
        device_ids: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        severities: Sequence[str] | None = None,
        opened_from: float | None = None,
        opened_to: float | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alerts newest first (by ``seq``), at most ``limit``, after the cursor ``before_seq``.

        ``severities``: the alert's highest severity so far (``peak_severity``) is one of
        them, the rule of ``/ws/alerts?min_severity=`` (:func:`app.alerting.events.reaches`):
        a critical alarm de-escalated to warning is listed under ``critical``, not
        ``warning``."""
        t = Alert.__table__
        q = select(t).order_by(t.c.seq.desc()).limit(limit)
        for col, values in (
            (t.c.device_id, device_ids),
            (t.c.state, states),
            (t.c.kind, kinds),
            (t.c.peak_severity, severities),
        ):
            if values:
                q = q.where(col.in_(list(values)))
        if opened_from is not None:
            q = q.where(t.c.opened_ts >= opened_from)
        if opened_to is not None:
            q = q.where(t.c.opened_ts < opened_to)
        if before_seq is not None:
            q = q.where(t.c.seq < before_seq)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in (await conn.execute(q)).all()]
