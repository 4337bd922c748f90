"""Migration 0010: a ppb device's leak detection moved from ppm to ppb (as sent), so what the
store kept of it on the old axis is moved too: its snapshot is dropped (it warms up again),
its policy state's gas values (an open leak alert's kept level) are x 1,000. Other devices
are left alone."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from app.store import Store
from app.store.repo import ROOT

#: A ppm-axis policy state of a ppb device at 5 ppb with an open leak alert at 20 ppb.
STATE = {
    "alert_id": "a1",
    "severity": "warning",
    "state": "active",
    "base_level": 0.005,
    "base_scale": 0.001,
    "base_explained": 0.01,
    "peak_level": 0.02,
    "told_gas": 0.02,
    "recent_gas": 0.019,
    "high_run": 3,
    "episode": {
        "opened_ts": 1.0,
        "opened_gas_ppm": 0.02,
        "opened_probability": 0.9,
        "last_probability": 0.9,
        "last_gas_ppm": 0.019,
        "peak_probability": 0.95,
        "peak_gas_ppm": 0.021,
        "peak_ts": 2.0,
    },
}


def _at(path: Path, revision: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
        for d, unit in (("cell", "ppb"), ("meter", "ppm")):
            conn.execute(
                text(
                    "INSERT INTO devices (device_id, enabled, unit, created_at, updated_at, "
                    "polarity) VALUES (:d, 1, :u, 1.0, 1.0, 'rising')"
                ),
                {"d": d, "u": unit},
            )
            conn.execute(
                text(
                    "INSERT INTO device_snapshots (device_id, layout, signal, ring, count, "
                    "last_ts, saved_at) VALUES (:d, 'x', :b, :b, 1, 1.0, 1.0)"
                ),
                {"d": d, "b": b"\0"},
            )
            conn.execute(
                text("INSERT INTO policy_states (device_id, data, updated_at) VALUES (:d, :j, 1)"),
                {"d": d, "j": json.dumps(STATE)},
            )
    engine.dispose()
    return cfg


async def test_a_ppb_devices_snapshot_is_dropped_and_its_kept_levels_move_to_ppb(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _at(path, "0008")
    store = Store(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    await store.close()
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        snaps = [r[0] for r in conn.execute(text("SELECT device_id FROM device_snapshots"))]
        states = dict(conn.execute(text("SELECT device_id, data FROM policy_states")).all())
    engine.dispose()
    assert snaps == ["meter"]
    meter, cell = json.loads(states["meter"]), json.loads(states["cell"])
    assert meter == STATE
    for k in ("base_level", "base_scale", "peak_level", "told_gas", "recent_gas"):
        assert abs(cell[k] - 1000 * STATE[k]) < 1e-9, k  # type: ignore[operator]
    assert cell["base_explained"] == STATE["base_explained"]  # a log ratio: no unit
    assert cell["high_run"] == 3 and cell["alert_id"] == "a1"
    for k in ("opened_gas_ppm", "last_gas_ppm", "peak_gas_ppm"):
        assert abs(cell["episode"][k] - 1000 * STATE["episode"][k]) < 1e-9, k  # type: ignore[index]
    assert cell["episode"]["peak_probability"] == 0.95
