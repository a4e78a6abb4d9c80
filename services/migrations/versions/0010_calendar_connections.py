"""integrations: calendars' last published busy blocks, and Google authorizations under way

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kernel.schema import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("integrations_connections", sa.Column("busy_fingerprint", sa.String(length=64), nullable=True))
    op.create_table(
        "integrations_oauth_states",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_integrations_oauth_states")),
    )
    op.create_index("ix_integrations_oauth_states_user_id", "integrations_oauth_states", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_integrations_oauth_states_user_id", table_name="integrations_oauth_states")
    op.drop_table("integrations_oauth_states")
    with op.batch_alter_table("integrations_connections") as batch:
        batch.drop_column("busy_fingerprint")
