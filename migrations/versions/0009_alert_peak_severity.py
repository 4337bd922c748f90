"""alert peak severity: the highest severity of each alert's events so far

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Highest first: an alert's peak is the first of these among its events.
_RANKED = ("critical", "warning", "info")


def upgrade() -> None:
    """Apply; every existing alert's peak is taken from its stored events (its current
    severity when it has none of a higher one)."""
    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("peak_severity", sa.String(length=16), nullable=True))
    whens = " ".join(
        f"WHEN EXISTS (SELECT 1 FROM events e WHERE e.alert_id = alerts.alert_id "
        f"AND e.severity = '{s}') THEN '{s}'"
        for s in _RANKED[:-1]
    )
    op.execute(f"UPDATE alerts SET peak_severity = CASE {whens} ELSE severity END")


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("alerts") as b:
        b.drop_column("peak_severity")
