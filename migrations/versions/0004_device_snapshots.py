"""device snapshots (issue 9): ring buffers and signal models kept across restarts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 15:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "device_snapshots",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("layout", sa.String(length=400), nullable=False),
        sa.Column("signal", sa.LargeBinary(), nullable=False),
        sa.Column("ring", sa.LargeBinary(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_ts", sa.Float(), nullable=False),
        sa.Column("saved_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("device_snapshots")
