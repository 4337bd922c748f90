"""snapshot probability: a device's last leak probability kept across restarts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (snapshots saved before keep a null probability: unknown until the device's
    next window is scored)."""
    with op.batch_alter_table("device_snapshots") as b:
        b.add_column(sa.Column("probability", sa.Float(), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("device_snapshots") as b:
        b.drop_column("probability")
