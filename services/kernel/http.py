"""The FastAPI dependencies every module's routes use: the request's unit of work and its caller.

The gateway fills `HttpContext` in at start-up; modules only read it through these dependencies,
so no module imports the gateway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from oo_contracts.errors import ErrorBody
from oo_contracts.identity import Principal, Role, Scope
from services.kernel.database import Database
from services.kernel.errors import Forbidden
from services.kernel.ports import Caller
from services.kernel.unit_of_work import UnitOfWork

PrincipalResolver = Callable[[Request, UnitOfWork], Awaitable[Principal]]
PrincipalFinder = Callable[[Request, UnitOfWork], Awaitable[Principal | None]]


@dataclass(frozen=True)
class HttpContext:
    database: Database
    resolve_principal: PrincipalResolver  # creates local mode's user when missing
    find_principal: PrincipalFinder  # creates nothing: None when local mode's user does not exist yet
    refuse_early: Callable[[Request], None] = lambda _request: None  # a credential no lookup could accept


def http_context(request: Request) -> HttpContext:
    context: HttpContext = request.app.state.http_context
    return context


async def _unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    context = http_context(request)
    async with context.database.transaction(write=request.method not in ("GET", "HEAD")) as uow:
        yield uow


# scope="function": the commit happens before the response is sent, so a failed commit is never a 2xx.
CurrentUnitOfWork = Annotated[UnitOfWork, Depends(_unit_of_work, scope="function")]


async def require_principal(request: Request, uow: CurrentUnitOfWork) -> Principal:
    """The caller, whatever it may do (401 if there is none)."""
    return await http_context(request).resolve_principal(request, uow)


def require_scope(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """A dependency that resolves the caller and checks it may do `scope`."""

    async def _principal(request: Request, uow: CurrentUnitOfWork) -> Principal:
        principal = await require_principal(request, uow)
        if not principal.allows(scope):
            raise Forbidden(f"this token lacks the scope {scope.value!r}", code="insufficient_scope")
        return principal

    return _principal


async def require_admin(request: Request, uow: CurrentUnitOfWork) -> Principal:
    """For the operator's pages: a caller whose role is admin (set by `oo users role`, read from the
    user's row at this request), else 403 `admin_only`. Any credential method; scopes still apply."""
    principal = await require_principal(request, uow)
    if principal.role != Role.admin:
        raise Forbidden("this needs the admin role, which an operator gives", code="admin_only")
    return principal


@dataclass(frozen=True)
class _RequestCaller:
    """`Caller` for one request: the gateway's resolver, run in the use case's own transactions."""

    request: Request
    context: HttpContext
    scope: Scope

    async def find(self, uow: UnitOfWork) -> Principal | None:
        principal = await self.context.find_principal(self.request, uow)
        return None if principal is None else self._allowed(principal)

    async def make(self) -> Principal:
        async with self.context.database.transaction() as uow:
            principal = await self.context.resolve_principal(self.request, uow)
        return self._allowed(principal)

    def _allowed(self, principal: Principal) -> Principal:
        if not principal.allows(self.scope):
            raise Forbidden(f"this token lacks the scope {self.scope.value!r}", code="insufficient_scope")
        return principal


def require_caller(scope: Scope) -> Callable[[Request], Caller]:
    """For use cases that open their own transactions (read, decide with none open, record): the caller
    is looked up in the use case's first read instead of a transaction of its own, one fewer per
    request (on Postgres, three fewer round trips)."""

    def _caller(request: Request) -> Caller:
        context = http_context(request)
        context.refuse_early(request)  # a missing or forged credential: 401 before the body is even read
        return _RequestCaller(request, context, scope)

    return _caller


class _FastJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson's error subclasses json.JSONDecodeError, so FastAPI still answers 400 for bad JSON.
            self._json = orjson.loads(await self.body())
        return self._json


class FastJsonRoute(APIRoute):
    """A route that parses JSON bodies with orjson (3x json.loads on a 500-event batch).

    FastAPI's documented way to customise the Request: a route class (`APIRouter(route_class=...)`).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def fast_json_handler(request: Request) -> Response:
            return await handler(_FastJsonRequest(request.scope, request.receive))

        return fast_json_handler


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for error statuses, all with the ErrorBody schema."""
    descriptions = {
        400: "Malformed request (e.g. unparsable JSON).",
        401: "No valid credentials.",
        403: "Credentials lack the needed scope, or the request is not allowed from this origin.",
        404: "Not found.",
        409: "Conflicts with what is stored.",
        413: "Request body too large.",
        422: "The request is well-formed but invalid; `items` names each offending part.",
        429: "Too many tries from this client; `Retry-After` says how many seconds to wait.",
        502: "A login provider could not be reached, or answered what a correct one never would.",
        503: "Storage unavailable; retry later.",
    }
    return {status: {"model": ErrorBody, "description": descriptions[status]} for status in statuses}


AUTHENTICATED_ERRORS = (401, 403, 503)
BODY_ERRORS = (400, 413, 422)
