"""Tables owned by the auth module."""

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, PrimaryKeyConstraint, String, Table, and_

from services.kernel.schema import JsonDocument, UtcDateTime, metadata

auth_users = Table(
    "auth_users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # local | regular
    Column("status", String(16), nullable=False),  # active | deleting
    Column("created_at", UtcDateTime(), nullable=False),
    # member | admin: set by an operator only (`oo users role`), read with the user at each request.
    Column("role", String(16), nullable=False, server_default="member"),
    CheckConstraint("role IN ('member', 'admin')", name="role"),
)
# Local mode has one person: at most one active local user, held by the database (ADR 0018), so
# concurrent first requests cannot each make one.
_ONE_ACTIVE_LOCAL = and_(auth_users.c.kind == "local", auth_users.c.status == "active")
Index(
    "ux_auth_users_one_active_local",
    auth_users.c.kind,
    unique=True,
    sqlite_where=_ONE_ACTIVE_LOCAL,
    postgresql_where=_ONE_ACTIVE_LOCAL,
)

# Personal API tokens: only a SHA-256 of the secret part is kept; the token is shown once.
auth_api_tokens = Table(
    "auth_api_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("user_id", String(64), ForeignKey("auth_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("scopes", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_auth_api_tokens_user_id", "user_id"),
)

# Refresh tokens of API clients (RFC 9700 §2.2.2): each use rotates it into a new one of the same
# family; a token used twice (a copy stolen and raced) revokes its whole family. Only SHA-256 of the
# secret is kept, as for personal tokens.
auth_refresh_tokens = Table(
    "auth_refresh_tokens",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("family_id", String(32), nullable=False),
    Column("user_id", String(64), ForeignKey("auth_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("scopes", JsonDocument, nullable=False),
    Column("family_started_at", UtcDateTime(), nullable=False),
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_auth_refresh_tokens_user_id", "user_id"),
    Index("ix_auth_refresh_tokens_family_id", "family_id"),
)

# Who a person is at an OIDC provider: (issuer, subject) → oO's opaque user id, never an email. The
# database holds the uniqueness: one identity belongs to one person; a person may link several.
auth_identities = Table(
    "auth_identities",
    metadata,
    Column("issuer", String(255), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("user_id", String(64), ForeignKey("auth_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("linked_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("issuer", "subject", name="pk_auth_identities"),
    Index("ix_auth_identities_user_id", "user_id"),
)

# The page's sessions: the cookie holds a 256-bit secret from `secrets`, the table only its SHA-256.
# `session_id` is a public name for the list and for signing one device out; it opens nothing.
auth_sessions = Table(
    "auth_sessions",
    metadata,
    Column("session_id", String(32), primary_key=True),
    Column("secret_sha256", String(64), nullable=False, unique=True),
    Column("user_id", String(64), ForeignKey("auth_users.user_id", ondelete="CASCADE"), nullable=False),
    Column("device", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Index("ix_auth_sessions_user_id", "user_id"),
)

# A login under way at a provider, for at most a few minutes: keyed by SHA-256 of the secret in the
# browser's pre-auth cookie, its `state` kept as a SHA-256 too. Taken (deleted) by its callback, once.
# `user_id` is set when a signed-in person links another provider to their account.
auth_login_flows = Table(
    "auth_login_flows",
    metadata,
    Column("flow_key", String(64), primary_key=True),
    Column("state_sha256", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("next_path", String(512), nullable=True),
    Column("user_id", String(64), ForeignKey("auth_users.user_id", ondelete="CASCADE"), nullable=True),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_auth_login_flows_user_id", "user_id"),
)
