"""recommender: each decision logs the policy features that moved its choice most

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("recommender_decisions", sa.Column("effects", JSON, nullable=False, server_default="{}"))


def downgrade() -> None:
    op.drop_column("recommender_decisions", "effects")
