"""events: an event id is unique per person, not across everyone

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot drop a constraint in place: batch mode copies the table (ids already unique
    # across everyone are unique per person too, so the copy never conflicts).
    with op.batch_alter_table("events_store") as batch:
        batch.drop_constraint("uq_events_store_event_id", type_="unique")
        batch.create_unique_constraint("uq_events_store_user_id_event_id", ["user_id", "event_id"])


def downgrade() -> None:
    with op.batch_alter_table("events_store") as batch:
        batch.drop_constraint("uq_events_store_user_id_event_id", type_="unique")
        batch.create_unique_constraint("uq_events_store_event_id", ["event_id"])
