"""Free text as people type it, within what every backend oO runs on can store.

Postgres cannot hold the NUL character (U+0000) in text or JSON, where SQLite can: refused here, in
the contract, both backends answer alike (422, saying why) instead of one storing it and the other
failing. JSON that carries a lone surrogate never reaches a model: the body parser refuses it (400).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# ECMA-262 (OpenAPI), Python's `re` (schema-driven test generators) and Rust's regex (pydantic) read alike.
NO_NUL_PATTERN = r"^[^\u0000]*$"


def _storable(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError(
            "nul_character", "must not contain the NUL character (U+0000), which oO's databases cannot store"
        )
    return value


def _text(max_length: int) -> object:
    # The pattern documents the rule in the schema; the validator enforces it with words a person reads.
    return Field(min_length=1, max_length=max_length, json_schema_extra={"pattern": NO_NUL_PATTERN})


TaskTitle = Annotated[str, _text(200), AfterValidator(_storable)]
HabitName = Annotated[str, _text(80), AfterValidator(_storable)]
