"""Tables owned by the events module."""

from sqlalchemy import Column, Index, SmallInteger, String, Table, UniqueConstraint, Uuid, text

from services.kernel.schema import BigId, JsonDocument, UtcDateTime, metadata

# The durable signal store, append-only. It is also the outbox: the JetStream relay publishes the
# rows whose published_at is NULL (scanning by that, not by a max-seq cursor, so a row committed
# out of sequence order is never skipped).
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
    Column("published_at", UtcDateTime(), nullable=True),
    Index("ix_events_store_user_id_occurred_at", "user_id", "occurred_at"),
    Index(
        "ix_events_store_unpublished",
        "seq",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
    # Unique per person (ADR 0018): another person's id tells nothing about yours and never makes
    # yours "already delivered" (ids derived from a provider's ids may coincide across people).
    UniqueConstraint("user_id", "event_id"),
)
