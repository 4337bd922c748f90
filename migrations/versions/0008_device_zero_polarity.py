"""device zero and polarity: a raw-unit device's reading at no gas and output direction

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply (every existing device: zero null, i.e. 0, and rising, as before)."""
    with op.batch_alter_table("devices") as b:
        b.add_column(sa.Column("zero", sa.Float(), nullable=True))
        b.add_column(
            sa.Column("polarity", sa.String(length=8), nullable=False, server_default="rising")
        )


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("devices") as b:
        b.drop_column("polarity")
        b.drop_column("zero")
