"""Errors that carry their HTTP status and a stable code; the gateway renders them as ErrorBody."""

from __future__ import annotations

from oo_contracts.errors import ErrorBody, ErrorDetail, ItemProblem


class ApiError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, items: list[ItemProblem] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.items = items or []

    def with_status(self, status_code: int) -> ApiError:
        self.status_code = status_code
        return self

    def body(self) -> ErrorBody:
        return ErrorBody(error=ErrorDetail(code=self.code, message=self.message, items=self.items))

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(ApiError):
    status_code = 400
    code = "bad_request"


class Unauthenticated(ApiError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(ApiError):
    status_code = 422
    code = "invalid_request"


class TooManyRequests(ApiError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(ApiError):
    status_code = 503
    code = "unavailable"
