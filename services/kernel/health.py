"""`/health` (the process is alive) and `/ready` (it can serve: each readiness check passes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from oo_contracts.errors import ErrorBody, ErrorDetail, ItemProblem
from services.kernel.metrics import Metrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReadinessCheck:
    name: str
    problem: Callable[[], Awaitable[str | None]]  # None when ready, else what is wrong, in words
    failed: str  # what to say when the check cannot run at all: never the driver's text


class Health(BaseModel):
    status: str
    checks: list[str] = []


def health_router(checks: Sequence[ReadinessCheck], metrics: Metrics | None) -> APIRouter:
    """`/health`, `/ready`, and `/metrics` unless `metrics` is None (served elsewhere, or nowhere)."""
    router = APIRouter(tags=["operations"])

    @router.get("/health", response_model=Health, summary="The process is alive")
    async def health() -> Health:
        return Health(status="ok")

    @router.get(
        "/ready",
        response_model=Health,
        summary="The process can serve: storage reachable, migrations at head",
        responses={503: {"model": ErrorBody, "description": "A readiness check failed; `items` names it."}},
    )
    async def ready() -> Response:
        problems = []
        for check in checks:
            try:
                problem = await check.problem()
            except Exception as error:  # a check that cannot run is a failed check
                # `/ready` answers without authentication: a driver's text names roles, hosts and
                # databases, so it goes to the log and the answer says what is wrong in words.
                log.warning(
                    "readiness_check_failed", check=check.name, error_type=type(error).__name__, error=str(error)
                )
                problem = check.failed
            if problem:
                problems.append(ItemProblem(field=check.name, problem=problem))
        if problems:
            body = ErrorBody(error=ErrorDetail(code="not_ready", message="not ready", items=problems))
            return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=503)
        return JSONResponse(Health(status="ready", checks=[c.name for c in checks]).model_dump())

    if metrics is not None:
        router.add_api_route(
            "/metrics",
            _prometheus(metrics),
            summary="Prometheus metrics",
            response_class=Response,
            responses={200: {"content": {"text/plain": {}}}},
        )
    return router


def _prometheus(metrics: Metrics) -> Callable[[], Awaitable[Response]]:
    async def prometheus() -> Response:
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    return prometheus
