"""recommender: feature state, policy state, decisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kernel.schema import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "recommender_feature_state",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_recommender_feature_state")),
    )
    op.create_table(
        "recommender_policy_state",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_recommender_policy_state")),
    )
    op.create_table(
        "recommender_decisions",
        sa.Column("decision_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("candidates", JSON, nullable=False),
        sa.Column("chosen", sa.String(length=128), nullable=True),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("context", JSON, nullable=False),
        sa.Column("shadow", JSON, nullable=False),
        sa.Column("reaction", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=True),
        sa.Column("reacted_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_recommender_decisions")),
    )
    op.create_index("ix_recommender_decisions_user_id_created_at", "recommender_decisions", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_recommender_decisions_user_id_created_at", table_name="recommender_decisions")
    op.drop_table("recommender_decisions")
    op.drop_table("recommender_policy_state")
    op.drop_table("recommender_feature_state")
