"""foundation: users, personal API tokens, the event store, account deletion

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kernel.schema import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_auth_users")),
    )
    op.create_table(
        "auth_api_tokens",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["auth_users.user_id"], name=op.f("fk_auth_api_tokens_user_id_auth_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_auth_api_tokens")),
    )
    op.create_index("ix_auth_api_tokens_user_id", "auth_api_tokens", ["user_id"])
    op.create_table(
        "events_store",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("schema_version", sa.SmallInteger(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events_store")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_store_event_id")),
    )
    op.create_index("ix_events_store_user_id_occurred_at", "events_store", ["user_id", "occurred_at"])
    op.create_table(
        "profile_deletion_jobs",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("receipt_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("completed_sections", JSON, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_profile_deletion_jobs")),
    )
    op.create_table(
        "profile_deletion_receipts",
        sa.Column("receipt_id", sa.Uuid(), nullable=False),
        sa.Column("subject_hmac", sa.String(length=64), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=True),
        sa.Column("erased", JSON, nullable=False),
        sa.PrimaryKeyConstraint("receipt_id", name=op.f("pk_profile_deletion_receipts")),
    )


def downgrade() -> None:
    op.drop_table("profile_deletion_receipts")
    op.drop_table("profile_deletion_jobs")
    op.drop_index("ix_events_store_user_id_occurred_at", table_name="events_store")
    op.drop_table("events_store")
    op.drop_index("ix_auth_api_tokens_user_id", table_name="auth_api_tokens")
    op.drop_table("auth_api_tokens")
    op.drop_table("auth_users")
