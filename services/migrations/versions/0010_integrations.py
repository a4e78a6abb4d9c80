"""integrations: OAuth states, Todoist's task marks and webhook deliveries, each connection's account and
calendars' last published busy blocks

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kernel.schema import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.add_column("integrations_connections", sa.Column("account_id", sa.String(length=64), nullable=True))
    op.add_column("integrations_connections", sa.Column("busy_fingerprint", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_integrations_connections_account"), "integrations_connections", ["provider", "account_id"])
    op.create_table(
        "integrations_task_marks",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "provider", "task_id", name=op.f("pk_integrations_task_marks")),
    )
    op.create_table(
        "integrations_oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("scopes", JSON, nullable=True),
        sa.Column("code_verifier", sa.String(length=128), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_integrations_oauth_states")),
    )
    op.create_index(op.f("ix_integrations_oauth_states_user_id"), "integrations_oauth_states", ["user_id"])
    op.create_table(
        "integrations_webhook_deliveries",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "delivery_id", name=op.f("pk_integrations_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_integrations_webhook_deliveries_received_at"), "integrations_webhook_deliveries", ["received_at"]
    )


def downgrade() -> None:
    op.drop_table("integrations_webhook_deliveries")
    op.drop_table("integrations_oauth_states")
    op.drop_table("integrations_task_marks")
    op.drop_index(op.f("ix_integrations_connections_account"), table_name="integrations_connections")
    with op.batch_alter_table("integrations_connections") as batch:
        batch.drop_column("busy_fingerprint")
        batch.drop_column("account_id")
