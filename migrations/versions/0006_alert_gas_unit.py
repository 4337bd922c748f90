"""alert gas unit: the unit of an alert's gas value (the device's profile unit at the event)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (alerts stored before keep a null unit: unknown, shown as they were stored)."""
    with op.batch_alter_table("alerts") as b:
        b.add_column(sa.Column("gas_unit", sa.String(length=16), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("alerts") as b:
        b.drop_column("gas_unit")
