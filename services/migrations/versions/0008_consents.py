"""profile: consents as records, the LLM-processing choices made so far among them

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.kernel.schema import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROWS_PER_INSERT = 1000


def upgrade() -> None:
    consents = op.create_table(
        "profile_consents",
        sa.Column("seq", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("text_version", sa.Integer(), nullable=False),
        sa.Column("answered_at", UtcDateTime(), nullable=False),
        sa.Column("how", sa.String(length=8), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_profile_consents")),
        sa.UniqueConstraint("user_id", "event_id", name=op.f("uq_profile_consents_user_id_event_id")),
    )
    op.create_index(
        "ix_profile_consents_user_id_purpose_seq", "profile_consents", ["user_id", "purpose", "seq"], unique=False
    )
    # Every LLM-processing choice already stored becomes the record it now is: an answer to the `llm`
    # text's first version, given through the API, in the order the feature state folded them.
    events = sa.table(
        "events_store",
        sa.column("seq", BIG_ID),
        sa.column("event_id", sa.Uuid()),
        sa.column("type", sa.String()),
        sa.column("user_id", sa.String()),
        sa.column("occurred_at", UtcDateTime()),
        sa.column("payload", JSON),
    )
    choices = (
        op.get_bind()
        .execute(
            sa.select(events.c.event_id, events.c.user_id, events.c.occurred_at, events.c.payload)
            .where(events.c.type == "profile.llm_processing_set.v1")
            .order_by(events.c.seq)
        )
        .all()
    )
    for start in range(0, len(choices), ROWS_PER_INSERT):
        rows = choices[start : start + ROWS_PER_INSERT]
        op.bulk_insert(
            consents,
            [
                {
                    "user_id": row.user_id,
                    "purpose": "llm",
                    "granted": bool(row.payload["allowed"]),
                    "text_version": 1,
                    "answered_at": row.occurred_at,
                    "how": "api",
                    "event_id": row.event_id,
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_profile_consents_user_id_purpose_seq", table_name="profile_consents")
    op.drop_table("profile_consents")
