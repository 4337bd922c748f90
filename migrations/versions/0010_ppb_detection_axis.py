"""ppb detection axis: a ppb device's leak detection sees its gas in ppb, as sent, not in ppm

What the service kept of a ppb device's leak detection was on its old axis, in ppm (the
reading / 1,000): its snapshot (ring buffer and signal model) and, in its alert-policy
state, the levels kept with an open leak alert (clean level, noise scale, peak and
announced gas, the episode's gas). Restored as they are, a level of 0.005 under readings of
5 ppb would read as a x1,000 leak, and an open alert's kept level would never let it clear.
So: the snapshots of ppb devices are deleted (those devices warm up again at their next
readings, as after a unit change), and the gas values of their policy states are multiplied
by 1,000 (ppb). Downgrade: the inverse.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The gas values (detection axis) of ``app.alerting.leak.DeviceAlertState`` and of its
#: episode (``app.alerting.events.EpisodeStats``).
STATE_GAS = ("base_level", "base_scale", "peak_level", "told_gas", "recent_gas")
EPISODE_GAS = ("opened_gas_ppm", "last_gas_ppm", "peak_gas_ppm")

devices = sa.table("devices", sa.column("device_id", sa.String), sa.column("unit", sa.String))
snapshots = sa.table("device_snapshots", sa.column("device_id", sa.String))
states = sa.table("policy_states", sa.column("device_id", sa.String), sa.column("data", sa.JSON))


def _scaled(data: dict[str, Any], factor: float) -> dict[str, Any]:
    out = dict(data)
    for k in STATE_GAS:
        if isinstance(out.get(k), int | float):
            out[k] = out[k] * factor
    ep = out.get("episode")
    if isinstance(ep, dict):
        ep = dict(ep)
        for k in EPISODE_GAS:
            if isinstance(ep.get(k), int | float):
                ep[k] = ep[k] * factor
        out["episode"] = ep
    return out


def _move(factor: float) -> None:
    bind = op.get_bind()
    ppb = sa.select(devices.c.device_id).where(devices.c.unit == "ppb")
    bind.execute(snapshots.delete().where(snapshots.c.device_id.in_(ppb)))
    rows = bind.execute(
        sa.select(states.c.device_id, states.c.data).where(states.c.device_id.in_(ppb))
    ).all()
    for device_id, data in rows:
        if isinstance(data, dict):
            bind.execute(
                states.update()
                .where(states.c.device_id == device_id)
                .values(data=_scaled(data, factor))
            )


def upgrade() -> None:
    """Apply: ppb devices' snapshots deleted, their policy states' gas x 1,000."""
    _move(1000.0)


def downgrade() -> None:
    """Revert: the same snapshots deleted, the policy states' gas back in ppm."""
    _move(0.001)
