"""recommender: the per-user cache of LLM candidates

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kernel.schema import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "recommender_llm_cache",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("candidates", JSON, nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("generated_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("budget_day", sa.String(length=10), nullable=False),
        sa.Column("calls_on_day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_recommender_llm_cache")),
    )


def downgrade() -> None:
    op.drop_table("recommender_llm_cache")
