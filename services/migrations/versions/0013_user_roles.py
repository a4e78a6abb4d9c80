"""auth: a role per user, member unless an operator made them admin

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The CHECK rides on the column: SQLite's ADD COLUMN takes it there, where a table-level one would
    # need the table rebuilt (and auth_users is the parent of every person's rows).
    role_is_known = sa.CheckConstraint("role IN ('member', 'admin')", name=op.f("ck_auth_users_role"))
    op.add_column(
        "auth_users", sa.Column("role", sa.String(length=16), role_is_known, nullable=False, server_default="member")
    )


def downgrade() -> None:
    with op.batch_alter_table("auth_users") as batch:
        batch.drop_constraint(op.f("ck_auth_users_role"), type_="check")
        batch.drop_column("role")
