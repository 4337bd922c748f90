"""A raw device's ``zero`` / ``polarity`` in the store (migration 0008): kept, and a database
made before the columns still opens with every device on the old behaviour."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from app.alerting.profiles import DeviceProfile
from app.store import Store
from app.store.repo import ROOT


async def test_zero_and_polarity_are_stored_and_read_back(store: Store) -> None:
    p = DeviceProfile(unit="mV", zero=1000.0, polarity="falling")
    await store.devices.put("d1", p.to_dict(), 1.0)
    (row,) = await store.devices.all()
    assert (row["zero"], row["polarity"]) == (1000.0, "falling")


async def test_a_database_from_before_the_columns_opens_with_rising_and_no_zero(
    tmp_path: Path,
) -> None:
    """A store at migration 0007 holding a raw device: opening it migrates to head, and the
    device reads back with ``zero`` null and ``polarity`` rising (the old behaviour)."""
    path = tmp_path / "old.db"
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        conn.execute(
            text(
                "INSERT INTO devices (device_id, enabled, unit, created_at, updated_at) "
                "VALUES ('adc', 1, 'counts', 1.0, 1.0)"
            )
        )
    engine.dispose()
    store = Store(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    try:
        (row,) = await store.devices.all()
        assert (row["unit"], row["zero"], row["polarity"]) == ("counts", None, "rising")
    finally:
        await store.close()
