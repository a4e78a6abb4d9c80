"""The `/api/v1` endpoints for tasks, projects and the user, with the status codes and bodies
`todoist-api-python` expects: JSON objects for reads and writes, `{results, next_cursor}` pages for
lists, and an empty 204 for close, reopen and delete (the SDK only checks `is_success`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from oo_simulators.todoist_filters import FilterClock, FilterError, parse_filter
from oo_simulators.todoist_state import ApiError, Task, invalid_argument, not_found

if TYPE_CHECKING:
    from oo_simulators.todoist import Simulator

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def page(items: Sequence[dict[str, Any]], cursor: str | None, limit: int | None) -> dict[str, Any]:
    """One page of a cursor-paginated list; the cursor is opaque to clients (here: an encoded offset)."""
    size = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= size <= MAX_LIMIT:
        raise invalid_argument("limit", f"between 1 and {MAX_LIMIT}")
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("offset:"))
        except ValueError:
            raise invalid_argument("cursor", "not a cursor this endpoint issued") from None
    end = start + size
    following = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return {"results": list(items[start:end]), "next_cursor": following}


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "Invalid JSON body", "INVALID_JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON body", "INVALID_JSON")
    return body


def api_routes(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    def ordered(tasks: list[Task]) -> list[dict[str, Any]]:
        return [t.to_json() for t in sorted(tasks, key=lambda t: (t.child_order, t.added_at))]

    @router.get("/user")
    async def user(request: Request) -> dict[str, Any]:
        grant = sim.grant(request, None)
        return sim.accounts.users[grant.user_id].to_json()

    @router.get("/tasks")
    async def tasks(
        request: Request,
        project_id: str | None = None,
        section_id: str | None = None,
        parent_id: str | None = None,
        label: str | None = None,
        ids: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        grant = sim.grant(request, "read")
        found = sim.accounts.active_tasks(grant.user_id)
        if project_id is not None:
            found = [t for t in found if t.project_id == project_id]
        if section_id is not None or parent_id is not None:
            found = []  # the simulator has no sections or sub-tasks
        if label is not None:
            found = [t for t in found if label in t.labels]
        if ids is not None:
            wanted = {i.strip() for i in ids.split(",")}
            found = [t for t in found if t.id in wanted]
        return page(ordered(found), cursor, limit)

    @router.get("/tasks/filter")
    async def filter_tasks(
        request: Request, query: str = "", lang: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        grant = sim.grant(request, "read")
        try:
            predicate = parse_filter(query)
        except FilterError as error:
            raise ApiError(400, f"Invalid filter query: {error}", "INVALID_SEARCH_QUERY", query=query) from None
        person = sim.accounts.users[grant.user_id]
        now = sim.now()
        clock = FilterClock(today=now.astimezone(person.zone).date(), now=now)
        found = [
            t
            for t in sim.accounts.active_tasks(grant.user_id)
            if predicate(sim.accounts.subject(t, person.zone), clock)
        ]
        return page(ordered(found), cursor, limit)

    @router.get("/tasks/{task_id}")
    async def get_task(request: Request, task_id: str) -> dict[str, Any]:
        grant = sim.grant(request, "read")
        return sim.accounts.task(grant.user_id, task_id).to_json()

    @router.post("/tasks")
    async def add_task(request: Request) -> dict[str, Any]:
        grant = sim.grant(request, "add")
        task, event = sim.accounts.create(grant.user_id, await _json_object(request), sim.now())
        sim.publish(event)
        return task.to_json()

    @router.post("/tasks/{task_id}")
    async def update_task(request: Request, task_id: str) -> dict[str, Any]:
        grant = sim.grant(request, "write")
        task, event = sim.accounts.update(grant.user_id, task_id, await _json_object(request), sim.now())
        sim.publish(event)
        return task.to_json()

    @router.post("/tasks/{task_id}/close")
    async def close_task(request: Request, task_id: str) -> Response:
        grant = sim.grant(request, "write")
        sim.publish(sim.accounts.close(grant.user_id, task_id, sim.now()))
        return Response(status_code=204)

    @router.post("/tasks/{task_id}/reopen")
    async def reopen_task(request: Request, task_id: str) -> Response:
        grant = sim.grant(request, "write")
        sim.publish(sim.accounts.reopen(grant.user_id, task_id, sim.now()))
        return Response(status_code=204)

    @router.delete("/tasks/{task_id}")
    async def delete_task(request: Request, task_id: str) -> Response:
        grant = sim.grant(request, "write")
        sim.publish(sim.accounts.delete(grant.user_id, task_id, sim.now()))
        return Response(status_code=204)

    @router.get("/projects")
    async def projects(request: Request, cursor: str | None = None, limit: int | None = None) -> dict[str, Any]:
        grant = sim.grant(request, "read")
        return page([p.to_json() for p in sim.accounts.user_projects(grant.user_id)], cursor, limit)

    @router.get("/projects/{project_id}")
    async def project(request: Request, project_id: str) -> dict[str, Any]:
        grant = sim.grant(request, "read")
        found = sim.accounts.projects.get(project_id)
        if found is None or found.user_id != grant.user_id:
            raise not_found("Project")
        return found.to_json()

    return router
