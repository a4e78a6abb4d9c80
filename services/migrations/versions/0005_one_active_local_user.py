"""auth: at most one active local user, held by a partial unique index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ONE_ACTIVE_LOCAL = "kind = 'local' AND status = 'active'"


def upgrade() -> None:
    # Concurrent first requests could each make an active local user. Local mode has always served the
    # oldest; the others were unreachable. They are marked as being deleted, and the deletion resumer
    # erases them (a user being deleted without a deletion job gets one).
    op.execute(
        sa.text(
            "UPDATE auth_users SET status = 'deleting' WHERE kind = 'local' AND status = 'active' AND user_id <> "
            "(SELECT user_id FROM auth_users WHERE kind = 'local' AND status = 'active' "
            "ORDER BY created_at, user_id LIMIT 1)"
        )
    )
    op.create_index(
        "ux_auth_users_one_active_local",
        "auth_users",
        ["kind"],
        unique=True,
        sqlite_where=sa.text(_ONE_ACTIVE_LOCAL),
        postgresql_where=sa.text(_ONE_ACTIVE_LOCAL),
    )


def downgrade() -> None:
    op.drop_index("ux_auth_users_one_active_local", table_name="auth_users")
