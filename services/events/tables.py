"""Tables owned by the events module."""

from sqlalchemy import Column, ForeignKey, Index, SmallInteger, String, Table, UniqueConstraint, Uuid

from services.kernel.schema import BigId, JsonDocument, UtcDateTime, metadata

# The durable signal store, append-only.
events_store = Table(
    "events_store",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid(), nullable=False),
    Column("type", String(100), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("source", String(64), nullable=False),
    Column("schema_version", SmallInteger(), nullable=False),
    Column("payload", JsonDocument, nullable=False),
    Index("ix_events_store_user_id_occurred_at", "user_id", "occurred_at"),
    # Unique per person (ADR 0018): another person's id tells nothing about yours and never makes
    # yours "already delivered" (ids derived from a provider's ids may coincide across people).
    UniqueConstraint("user_id", "event_id"),
)

# The outbox (ADR 0034): the seq of every stored event the JetStream relay has yet to publish, written
# in the same transaction as the event and deleted once JetStream acknowledged it. A queue of its own,
# not a column of `events_store`: marking a row there wrote a new version of the wide row and an entry
# in each of its indexes, where deleting a row here touches one narrow index. Erasing an event erases
# its entry with it (ON DELETE CASCADE), so the table holds nothing of a person beyond the event itself.
events_outbox = Table(
    "events_outbox",
    metadata,
    Column(
        "seq",
        BigId,
        ForeignKey("events_store.seq", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
)
