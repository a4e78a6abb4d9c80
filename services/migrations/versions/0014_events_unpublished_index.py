"""events: a partial index of the rows the JetStream relay has yet to publish

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The relay scans `published_at IS NULL ORDER BY seq`: a partial index holds only those rows, so the
    # idle poll reads an empty index and a relayed row leaves it when it is marked.
    op.create_index(
        "ix_events_store_unpublished",
        "events_store",
        ["seq"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_events_store_unpublished", table_name="events_store")
