"""Tables owned by the profile module."""

from sqlalchemy import Column, Integer, String, Table, Uuid

from services.kernel.schema import JsonDocument, UtcDateTime, metadata

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
