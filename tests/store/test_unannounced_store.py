"""Alerts owed their current state after a silence (``alerts.unannounced``, migration
0011), and the pages that reminders and silence-end announcements read: every row is
reached by paging on ``seq``, however many before it the caller skips."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.store import Store
from app.store.repo import ROOT
from tests.store.test_store import T0, ev


async def _owed(store: Store) -> list[str]:
    return [r["alert_id"] for r in await store.unannounced_alerts()]


async def test_an_alert_heard_then_resolved_under_a_silence_is_owed_its_end(
    store: Store,
) -> None:
    """Raised aloud then resolved silenced: owed (subscribers heard it raised). Raised and
    resolved silenced: owes nothing. Open and silenced: owed. An unsilenced event clears
    it."""
    await store.append(
        [
            ev("alert.raised", alert="heard"),
            ev("alert.resolved", alert="heard", state="resolved", silenced=True),
            ev("alert.raised", alert="quiet", silenced=True),
            ev("alert.resolved", alert="quiet", state="resolved", silenced=True),
            ev("alert.raised", alert="open", silenced=True),
            ev("alert.raised", alert="loud"),
        ],
        states={},
        now=T0,
    )
    assert await _owed(store) == ["heard", "open"]
    await store.append(
        [
            ev("alert.updated", alert="open", reason="silence_ended"),
            ev("alert.resolved", alert="heard", state="resolved", reason="silence_ended"),
        ],
        states={},
        now=T0 + 1,
    )
    assert await _owed(store) == []
    heard = await store.get_alert("heard")
    assert heard is not None and heard["resolved_ts"] == T0 and not heard["silenced"]


async def test_pages_by_seq_reach_every_row(store: Store) -> None:
    """Seven silenced critical alarms in pages of three: the cursor (``after_seq``) reaches
    each once, in ``seq`` order, for both the owed and the due reminders."""
    ids = [f"a{i}" for i in range(7)]
    await store.append(
        [ev("alert.raised", alert=a, severity="critical", silenced=True) for a in ids],
        states={},
        now=T0,
    )
    for read in (
        lambda after: store.unannounced_alerts(after_seq=after, limit=3),
        lambda after: store.due_reminders(notified_before=T0, after_seq=after, limit=3),
    ):
        got: list[str] = []
        after = 0
        while page := await read(after):
            assert len(page) <= 3
            got += [r["alert_id"] for r in page]
            after = page[-1]["seq"]
        assert got == ids


async def test_migration_0011_marks_the_resolutions_and_open_alerts_owed(db_url: str) -> None:
    """A store at 0010 holding a heard alert resolved under a silence, a silenced one never
    heard, an open silenced one and a loud one: after the upgrade the first and third are
    owed their state, so the first sweep announces the resolution missed before it."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    rows = [  # alert, state, last event silenced, events' silenced flags
        ("heard", "resolved", True, (False, True)),
        ("quiet", "resolved", True, (True, True)),
        ("open", "active", True, (True,)),
        ("loud", "resolved", False, (False, False)),
    ]

    def at_0010(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        for alert, state, silenced, flags in rows:
            for f in flags:
                conn.execute(
                    text(
                        "INSERT INTO events (type, alert_id, device_id, kind, severity, ts, "
                        "published_at, data, silenced) VALUES ('x', :a, 'd', 'threshold', "
                        "'warning', 1.0, 1.0, '{}', :s)"
                    ),
                    {"a": alert, "s": f},
                )
            conn.execute(
                text(
                    "INSERT INTO alerts (alert_id, device_id, kind, state, severity, "
                    "opened_ts, updated_ts, last_event_id, silenced) VALUES (:a, 'd', "
                    "'threshold', :st, 'warning', 1.0, 1.0, 0, :s)"
                ),
                {"a": alert, "st": state, "s": silenced},
            )

    engine = create_async_engine(db_url)
    async with engine.begin() as conn:
        await conn.run_sync(at_0010)
    await engine.dispose()
    store = Store(db_url)
    await store.migrate()
    try:
        assert await _owed(store) == ["heard", "open"]
    finally:
        await store.close()
