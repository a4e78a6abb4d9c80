from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RecommenderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OO_", env_file=".env.local", extra="ignore")

    ml_url: str | None = Field(default=None, description="The ML sidecar's base URL; unset: ML runs in process.")
    ml_timeout_seconds: float = Field(default=2.0, gt=0, le=30, description="Timeout of one call to the ML sidecar.")
    ml_llm_timeout_seconds: float = Field(
        default=30.0, gt=0, le=300, description="Timeout of a background LLM generation through the ML sidecar."
    )
    silence_retry_seconds: int = Field(default=900, ge=30, description="When to ask again after a silent decision.")
    hold_silence: bool = Field(
        default=True,
        description="A silent answer stays the answer until its retry_after ends or a new signal arrives; "
        "off: every ask decides anew (benchmarks measure decisions with it off).",
    )
    tip_hold_seconds: int = Field(
        default=1800, ge=0, description="How long a shown tip stays the answer until the person reacts to it."
    )
    llm_tips: bool | None = Field(
        default=None,
        description="Cache LLM candidates in the background; unset: on when LITELLM_URL is set (in-process ML).",
    )
    llm_concurrency: int = Field(default=2, ge=1, le=64, description="LLM refreshes running at once.")
    llm_daily_budget: int = Field(default=24, ge=0, description="LLM refreshes per person per UTC day.")
    llm_cache_seconds: int = Field(default=6 * 3600, ge=60, description="How long LLM candidates stay usable.")
