"""Tables owned by the profile module."""

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, UniqueConstraint, Uuid

from services.kernel.schema import BigId, JsonDocument, UtcDateTime, metadata

# A deletion in progress: which modules have erased the user so far. Removed with the user's last
# rows; while it exists the deletion resumes after a crash.
profile_deletion_jobs = Table(
    "profile_deletion_jobs",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("receipt_id", Uuid(), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("completed_sections", JsonDocument, nullable=False),
    Column("attempts", Integer(), nullable=False, default=0),
)

# Proof that a deletion happened, without personal data: the subject is an HMAC of the user id.
profile_deletion_receipts = Table(
    "profile_deletion_receipts",
    metadata,
    Column("receipt_id", Uuid(), primary_key=True),
    Column("subject_hmac", String(64), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    Column("erased", JsonDocument, nullable=False),
)

# Every answer a person gave to a purpose's consent text, append-only: the current state of a purpose
# is its latest row (by `seq`, the order they were recorded in, which is the order the recommender's
# projection folded them in). Each row comes from one event (`profile.consent_set.v1`).
profile_consents = Table(
    "profile_consents",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("user_id", String(64), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("granted", Boolean(), nullable=False),
    Column("text_version", Integer(), nullable=False),
    Column("answered_at", UtcDateTime(), nullable=False),
    Column("how", String(8), nullable=False),
    Column("event_id", Uuid(), nullable=False),
    Index("ix_profile_consents_user_id_purpose_seq", "user_id", "purpose", "seq"),
    # A redelivered event records nothing twice.
    UniqueConstraint("user_id", "event_id"),
)
