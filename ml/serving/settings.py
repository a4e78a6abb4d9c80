"""Where the LLM is: the LiteLLM proxy, by URL and key, and the aliases oO asks it for (`tip-generator`,
`embedder` unless set otherwise). Which model stands behind an alias is the proxy's configuration
(infra/litellm); naming another alias lets one proxy serve several oO installations or test cases."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml.serving.llm import TIP_GENERATOR, JsonMode, LlmTipGenerator
from ml.serving.llm_dedup import EMBEDDER


class LlmSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env.local", extra="ignore", populate_by_name=True)

    litellm_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LITELLM_URL"), description="The LiteLLM proxy; unset: no LLM."
    )
    litellm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LITELLM_API_KEY"), description="A key the proxy accepts."
    )
    llm_timeout_seconds: float = Field(
        default=8.0, gt=0, le=120, validation_alias=AliasChoices("OO_LLM_TIMEOUT_SECONDS")
    )

    llm_json_mode: JsonMode = Field(
        default="json_schema", validation_alias=AliasChoices("OO_LLM_JSON_MODE"), description="See ml/serving/llm.py."
    )
    llm_tip_generator_alias: str = Field(
        default=TIP_GENERATOR,
        min_length=1,
        validation_alias=AliasChoices("OO_LLM_TIP_GENERATOR_ALIAS"),
        description="The proxy's alias that writes tips.",
    )
    llm_embedder_alias: str = Field(
        default=EMBEDDER,
        min_length=1,
        validation_alias=AliasChoices("OO_LLM_EMBEDDER_ALIAS"),
        description="The proxy's alias that embeds texts; a proxy without it means word overlap decides.",
    )

    def generator(self) -> LlmTipGenerator | None:
        if not self.litellm_url:
            return None
        key = self.litellm_api_key.get_secret_value() if self.litellm_api_key else "no-key"
        return LlmTipGenerator(
            self.litellm_url,
            api_key=key,
            timeout=self.llm_timeout_seconds,
            json_mode=self.llm_json_mode,
            alias=self.llm_tip_generator_alias,
            embedder=self.llm_embedder_alias,
        )
