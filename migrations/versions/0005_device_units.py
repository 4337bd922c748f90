"""device units: a profile's gas unit (ppm, %LEL, counts, mV) and set points in a raw unit

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (every existing device reads ppm, as before)."""
    with op.batch_alter_table("devices") as b:
        b.add_column(sa.Column("unit", sa.String(length=16), nullable=False, server_default="ppm"))
        b.add_column(sa.Column("low_set_point", sa.Float(), nullable=True))
        b.add_column(sa.Column("high_set_point", sa.Float(), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("devices") as b:
        b.drop_column("high_set_point")
        b.drop_column("low_set_point")
        b.drop_column("unit")
