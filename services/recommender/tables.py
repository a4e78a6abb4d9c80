"""Tables owned by the recommender module."""

from sqlalchemy import Column, Float, Index, Integer, String, Table, Uuid

from services.kernel.schema import JsonDocument, UtcDateTime, metadata

# Per-user feature state, folded from the user's events inside the transaction that stores them.
recommender_feature_state = Table(
    "recommender_feature_state",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("state", JsonDocument, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Per-user policy state (the bandit's posterior), updated by every reaction.
recommender_policy_state = Table(
    "recommender_policy_state",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("policy_version", String(64), nullable=False),
    Column("observations", Integer(), nullable=False),
    Column("state", JsonDocument, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Every decision, with what off-policy evaluation needs: the candidate set with features, the choice,
# its propensity, the policy version, the context snapshot, shadow policies' choices and the features
# that moved the choice most.
recommender_decisions = Table(
    "recommender_decisions",
    metadata,
    Column("decision_id", Uuid(), primary_key=True),
    Column("user_id", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("candidates", JsonDocument, nullable=False),
    Column("chosen", String(128), nullable=True),
    Column("propensity", Float(), nullable=False),
    Column("context", JsonDocument, nullable=False),
    Column("shadow", JsonDocument, nullable=False),
    Column("effects", JsonDocument, nullable=False, server_default="{}"),
    Column("reaction", String(16), nullable=True),
    Column("reason", String(16), nullable=True),
    Column("reacted_at", UtcDateTime(), nullable=True),
    Index("ix_recommender_decisions_user_id_created_at", "user_id", "created_at"),
)

# Per-user LLM candidates, written in the background when the person's signals change and only read
# by /v1/recommend (never generated in its path); with the day's call count for the daily budget.
recommender_llm_cache = Table(
    "recommender_llm_cache",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("candidates", JsonDocument, nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("generated_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("budget_day", String(10), nullable=False),
    Column("calls_on_day", Integer(), nullable=False),
)
