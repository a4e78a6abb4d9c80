"""integrations: each connection's last refresh and the failure since, if any

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kernel.schema import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("integrations_connections", sa.Column("last_synced_at", UtcDateTime(), nullable=True))
    op.add_column("integrations_connections", sa.Column("sync_error", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("integrations_connections") as batch:
        batch.drop_column("sync_error")
        batch.drop_column("last_synced_at")
