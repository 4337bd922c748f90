"""alert unannounced: alerts whose current state subscribers and webhooks are owed

An alert whose last event a silence matched is announced when no silence matches it any
more (``AlertService.announce_unsilenced``). That covered open alerts only: one that was
announced, then resolved under a silence, was never told as resolved, and subscribers and
webhooks kept a phantom active alarm. ``alerts.unannounced`` marks every alert owed its
current state: its last event was silenced, and it is open or an earlier event of it was
announced (one raised and resolved under a silence was never heard, and owes nothing). An
index on (unannounced, seq) keeps the announcement's scan to those rows, not the whole
alert history. Existing rows are marked from their stored events, so the first sweep after
the upgrade announces the resolutions that were missed before it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 06:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = ("active", "acknowledged", "cleared_unacked")

alerts = sa.table(
    "alerts",
    sa.column("alert_id", sa.String),
    sa.column("state", sa.String),
    sa.column("silenced", sa.Boolean),
    sa.column("unannounced", sa.Boolean),
)
events = sa.table(
    "events",
    sa.column("alert_id", sa.String),
    sa.column("silenced", sa.Boolean),
)


def upgrade() -> None:
    """Apply: add the column (false) and its index, then mark the rows owed an
    announcement."""
    with op.batch_alter_table("alerts") as b:
        b.add_column(
            sa.Column("unannounced", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index("ix_alerts_unannounced", "alerts", ["unannounced", "seq"])
    heard = (
        sa.select(events.c.alert_id)
        .where(events.c.alert_id == alerts.c.alert_id, events.c.silenced.is_(False))
        .exists()
    )
    op.execute(
        sa.update(alerts)
        .where(alerts.c.silenced.is_(True), sa.or_(alerts.c.state.in_(OPEN), heard))
        .values(unannounced=True)
    )


def downgrade() -> None:
    """Revert."""
    op.drop_index("ix_alerts_unannounced", table_name="alerts")
    with op.batch_alter_table("alerts") as b:
        b.drop_column("unannounced")
