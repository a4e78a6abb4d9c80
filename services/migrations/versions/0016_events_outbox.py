"""events: the outbox is a table of its own, deleted from on ack (ADR 0034)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.kernel.schema import BigId, UtcDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events_outbox",
        sa.Column("seq", BigId, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["events_store.seq"], name="fk_events_outbox_seq_events_store", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name="pk_events_outbox"),
    )
    # What the relay had yet to publish stays to be published.
    op.execute("INSERT INTO events_outbox (seq) SELECT seq FROM events_store WHERE published_at IS NULL")
    op.drop_index("ix_events_store_unpublished", table_name="events_store")
    # In place on SQLite too (3.35+): a batch copy would drop and recreate `events_store`, and the drop
    # would cascade to the outbox rows just written.
    op.drop_column("events_store", "published_at")


def downgrade() -> None:
    op.add_column("events_store", sa.Column("published_at", UtcDateTime(), nullable=True))
    op.execute("UPDATE events_store SET published_at = recorded_at WHERE seq NOT IN (SELECT seq FROM events_outbox)")
    op.create_index(
        "ix_events_store_unpublished",
        "events_store",
        ["seq"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("events_outbox")
