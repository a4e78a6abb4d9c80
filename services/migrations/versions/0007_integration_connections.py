"""integrations: a person's connection to a provider, its tokens sealed in the vault

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kernel.schema import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "integrations_connections",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("access_token_sealed", sa.Text(), nullable=False),
        sa.Column("refresh_token_sealed", sa.Text(), nullable=True),
        sa.Column("token_expires_at", UtcDateTime(), nullable=True),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("connected_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider", name=op.f("pk_integrations_connections")),
        sa.CheckConstraint("status IN ('connected', 'broken')", name=op.f("ck_integrations_connections_status")),
    )
    op.create_index("ix_integrations_connections_key_id", "integrations_connections", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_integrations_connections_key_id", table_name="integrations_connections")
    op.drop_table("integrations_connections")
