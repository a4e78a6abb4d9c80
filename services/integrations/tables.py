"""Tables owned by the integrations module."""

from sqlalchemy import CheckConstraint, Column, Index, PrimaryKeyConstraint, String, Table, Text

from services.kernel.schema import JsonDocument, UtcDateTime, metadata

# A person's connection to a provider. The tokens are vault envelopes (services/kernel/vault.py), never
# plaintext, bound to this table, the row's (user_id, provider) and their column; both are sealed in
# the same write under the key `key_id` names.
integrations_connections = Table(
    "integrations_connections",
    metadata,
    Column("user_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("access_token_sealed", Text(), nullable=False),
    Column("refresh_token_sealed", Text(), nullable=True),
    Column("token_expires_at", UtcDateTime(), nullable=True),
    Column("scopes", JsonDocument, nullable=False),
    Column("status", String(16), nullable=False),
    Column("connected_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # The last refresh from the provider: when one last succeeded, and the short code of the last
    # failure since (null once one succeeds). A failed refresh keeps the signals derived before it.
    Column("last_synced_at", UtcDateTime(), nullable=True),
    Column("sync_error", String(32), nullable=True),
    # The person's account at the provider (its user id, never a name or an address): how a webhook
    # delivery, which names only that account, finds the person it is about.
    Column("account_id", String(64), nullable=True),
    # A calendar's busy blocks as last published (a hash of their times, ADR 0024): a refresh that reads
    # the same publishes nothing. Null until the first publish and after the provider is forgotten.
    Column("busy_fingerprint", String(64), nullable=True),
    # One connection per person and provider, held by the database (ADR 0018).
    PrimaryKeyConstraint("user_id", "provider"),
    CheckConstraint("status IN ('connected', 'broken')", name="status"),
    Index("ix_integrations_connections_key_id", "key_id"),
    Index("ix_integrations_connections_account", "provider", "account_id"),
)

# What a refresh last published of each provider task: its id and a hash of its derived fields, never
# its text (ADR 0023). A refresh publishes only the tasks whose hash changed, and a removal for each row
# whose task is gone.
integrations_task_marks = Table(
    "integrations_task_marks",
    metadata,
    Column("user_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("task_id", String(64), nullable=False),
    Column("fingerprint", String(32), nullable=False),
    PrimaryKeyConstraint("user_id", "provider", "task_id"),
)

# An OAuth authorization under way (Todoist, Google): its `state` stored as its SHA-256 only, bound to
# the person who began it, taken once by the callback (a DELETE … RETURNING), worthless after
# `expires_at`. Google's flow keeps its PKCE verifier here, useless without the code Google sends to
# the callback alone, and the redirect URI it named; Todoist's, the scopes it asked for.
integrations_oauth_states = Table(
    "integrations_oauth_states",
    metadata,
    Column("state_hash", String(64), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("scopes", JsonDocument, nullable=True),
    Column("code_verifier", String(128), nullable=True),
    Column("redirect_uri", Text(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("state_hash"),
    Index("ix_integrations_oauth_states_user_id", "user_id"),
)

# Webhook deliveries already taken, by the provider's delivery id: a retried or replayed delivery
# changes nothing. Holds no person's data; rows older than a week are pruned.
integrations_webhook_deliveries = Table(
    "integrations_webhook_deliveries",
    metadata,
    Column("provider", String(32), nullable=False),
    Column("delivery_id", String(128), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("provider", "delivery_id"),
    Index("ix_integrations_webhook_deliveries_received_at", "received_at"),
)
