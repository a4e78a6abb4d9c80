"""The one error body every 4xx/5xx of the HTTP API carries."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ItemProblem(BaseModel):
    """One offending part of a request: which item (for batches), which field, what is wrong."""

    index: int | None = Field(default=None, description="Position of the offending item in a batch.")
    id: str | None = Field(default=None, description="The offending item's id, when it has one.")
    field: str | None = Field(default=None, description="Dotted path of the offending field.")
    problem: str = Field(description="What is wrong, in words.")


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `invalid_batch`, `unauthenticated`.")
    message: str = Field(description="Human-readable explanation.")
    items: list[ItemProblem] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """Body of every error response."""

    error: ErrorDetail
