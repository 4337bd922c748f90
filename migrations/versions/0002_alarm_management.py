"""alarm management (issue 10): episodes, silences, device registry

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 04:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("events", schema=None) as b:
        b.add_column(sa.Column("silenced", sa.Boolean(), server_default=sa.false(),
                               nullable=False))
    with op.batch_alter_table("alerts", schema=None) as b:
        b.add_column(sa.Column("gas_pct_lel", sa.Float(), nullable=True))
        b.add_column(sa.Column("episode", sa.JSON(), nullable=True))
        b.add_column(sa.Column("silenced", sa.Boolean(), server_default=sa.false(),
                               nullable=False))
        b.add_column(sa.Column("notified_at", sa.Float(), nullable=True))
    op.create_table(
        "safety_states",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "devices",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("gas", sa.String(length=32), nullable=True),
        sa.Column("low_pct_lel", sa.Float(), nullable=True),
        sa.Column("high_pct_lel", sa.Float(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("device_id"),
    )
    op.create_table(
        "silences",
        sa.Column("silence_id", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("min_severity", sa.String(length=16), nullable=True),
        sa.Column("starts_at", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.Float(), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("silence_id"),
    )


def downgrade() -> None:
    """Revert."""
    op.drop_table("silences")
    op.drop_table("devices")
    op.drop_table("safety_states")
    with op.batch_alter_table("alerts", schema=None) as b:
        for c in ("notified_at", "silenced", "episode", "gas_pct_lel"):
            b.drop_column(c)
    with op.batch_alter_table("events", schema=None) as b:
        b.drop_column("silenced")
