"""Every error leaves as an ErrorBody with a documented status; nothing escapes as a bare 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from oo_contracts.errors import ItemProblem
from services.kernel.errors import ApiError, Conflict, Unavailable

log = structlog.get_logger(__name__)

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 406: "not_acceptable", 415: "unsupported_media_type"}


def render_error(error: ApiError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The response an `ApiError` becomes, for a route that must answer one without raising (raising
    would roll its unit of work back)."""
    merged = {**error.headers(), **(headers or {})}
    if error.status_code == 401:
        merged["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error.body().model_dump(mode="json", exclude_none=True), error.status_code, headers=merged)


def _problem(error: dict[str, Any], body: Any) -> ItemProblem:
    location = [part for part in error.get("loc", ()) if part != "body"]
    index: int | None = None
    if len(location) >= 2 and location[0] == "events" and isinstance(location[1], int):
        index = location[1]
        # Drop the discriminator tag pydantic inserts for tagged unions.
        rest = location[2:]
        if rest and isinstance(rest[0], str) and "." in rest[0]:
            rest = rest[1:]
        location = rest
    item_id = None
    if index is not None and isinstance(body, dict):
        events = body.get("events")
        if isinstance(events, list) and index < len(events) and isinstance(events[index], dict):
            raw = events[index].get("id")
            item_id = str(raw) if raw is not None else None
    problem = str(error.get("msg", "invalid"))
    if error.get("type") == "union_tag_invalid":
        problem = f"unknown event type; expected one of {error.get('ctx', {}).get('expected_tags', '')}"
    field = ".".join(str(part) for part in location) or None
    return ItemProblem(index=index, id=item_id, field=field, problem=problem)


def _allowed_methods(request: Request) -> str:
    """Every method the path is served with. Starlette's 405 names only the methods of the first route
    matching the path, though two modules may serve one path (GET and DELETE /v1/me): each method is
    tried against every route instead."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return render_error(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, error: RequestValidationError) -> JSONResponse:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return render_error(ApiError("the body is not valid JSON", code="malformed_json"))
        items = [_problem(e, error.body) for e in errors]
        code = "invalid_batch" if any(item.index is not None for item in items) else "invalid_request"
        message = "the request was rejected; nothing was stored"
        return render_error(ApiError(message, code=code, items=items).with_status(422))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        headers = error.headers
        if error.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request)}
        return render_error(ApiError(str(error.detail), code=code).with_status(error.status_code), headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, _error: IntegrityError) -> JSONResponse:
        # A concurrent request won a uniqueness race; the transaction was rolled back whole.
        return render_error(
            Conflict("a concurrent change conflicted with this request; retry", code="concurrent_change")
        )

    @app.exception_handler(DataError)
    async def _unstorable(_request: Request, error: DataError) -> JSONResponse:
        # The contract refuses what a database cannot store; one that slips through is still the
        # request's value, not a fault to retry (a client retrying 5xx would retry it for ever).
        log.error("unstorable_value", error_type=type(error.orig).__name__)
        message = "a value in this request cannot be stored; nothing was stored"
        return render_error(ApiError(message, code="unstorable_value").with_status(422))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(ConnectionError)  # drivers raise it unwrapped when the server refuses to connect
    @app.exception_handler(TimeoutError)
    async def _storage(_request: Request, error: Exception) -> JSONResponse:
        log.error("storage_unavailable", error_type=type(error).__name__)
        return render_error(
            Unavailable("storage is unavailable; retry shortly", code="storage_unavailable"), {"Retry-After": "1"}
        )

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled_error")
        return render_error(ApiError("internal error", code="internal").with_status(500))
