"""The simulator's control surface, `/_sim/...`: what a test (or a demo) does in place of the person using
Todoist's app and in place of Todoist's operators. Nothing here exists at the real provider.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from oo_simulators.todoist_limits import FAULT_STATUSES, Fault, RateLimit
from oo_simulators.todoist_state import ApiError, invalid_argument, not_found

if TYPE_CHECKING:
    from oo_simulators.todoist import Simulator


async def _body(request: Request) -> dict[str, Any]:
    body = await request.json() if await request.body() else {}
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid JSON body", "INVALID_JSON")
    return body


def _task_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The control bodies' few conveniences, turned into the API's own create/update fields."""
    fields = {k: v for k, v in body.items() if k not in ("duration_minutes", "project")}
    if "duration_minutes" in body:
        fields["duration"], fields["duration_unit"] = body["duration_minutes"], "minute"
    return fields


def control_routes(sim: Simulator) -> APIRouter:
    router = APIRouter(prefix="/_sim")

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/reset")
    async def reset() -> Response:
        await sim.reset()
        return Response(status_code=204)

    @router.post("/authorize")
    async def authorize(request: Request) -> dict[str, str]:
        body = await _body(request)
        user, decision = str(body.get("user", "demo")), body.get("decision", "allow")
        if decision not in ("allow", "deny"):
            raise invalid_argument("decision", "allow or deny")
        sim.auth.decision = (user, decision)
        return {"user": user, "decision": decision}

    @router.post("/users")
    async def user(request: Request) -> dict[str, Any]:
        body = await _body(request)
        if not body.get("user_id"):
            raise invalid_argument("user_id", "required")
        return sim.accounts.user(str(body["user_id"]), sim.now(), body.get("timezone")).to_json()

    @router.get("/users/{user_id}/tasks")
    async def list_tasks(user_id: str) -> list[dict[str, Any]]:
        """Every task of the account as Todoist holds it, completed ones included (deleted ones not):
        what a demo or a test looks at to see what oO changed."""
        return [t.to_json() for t in sim.accounts.tasks.values() if t.user_id == user_id and not t.deleted]

    @router.post("/users/{user_id}/tasks")
    async def create_task(request: Request, user_id: str) -> dict[str, Any]:
        body = await _body(request)
        now = sim.now()
        sim.accounts.user(user_id, now)
        fields = _task_fields(body)
        if body.get("project"):
            fields["project_id"] = sim.accounts.project_named(user_id, str(body["project"]), now).id
        task, event = sim.accounts.create(user_id, fields, now)
        sim.publish(event)
        return task.to_json()

    @router.patch("/users/{user_id}/tasks/{task_id}")
    async def update_task(request: Request, user_id: str, task_id: str) -> dict[str, Any]:
        body = await _body(request)
        fields = _task_fields(body)
        if body.get("project"):
            fields["project_id"] = sim.accounts.project_named(user_id, str(body["project"]), sim.now()).id
        task, event = sim.accounts.update(user_id, task_id, fields, sim.now())
        sim.publish(event)
        return task.to_json()

    @router.post("/users/{user_id}/tasks/{task_id}/complete")
    async def complete_task(user_id: str, task_id: str) -> dict[str, Any]:
        sim.publish(event := sim.accounts.close(user_id, task_id, sim.now()))
        return event.task

    @router.delete("/users/{user_id}/tasks/{task_id}")
    async def delete_task(user_id: str, task_id: str) -> Response:
        sim.publish(sim.accounts.delete(user_id, task_id, sim.now()))
        return Response(status_code=204)

    @router.post("/faults")
    async def faults(request: Request) -> dict[str, Any]:
        body = await _body(request)
        count = int(body.get("count", 1))
        status, delay = body.get("status"), float(body.get("delay_seconds", 0))
        if status is not None and status not in FAULT_STATUSES:
            raise invalid_argument("status", f"one of {FAULT_STATUSES}")
        if (status is None and delay <= 0) or count < 1:
            raise invalid_argument("fault", "a status or a positive delay_seconds, and a count of at least 1")
        sim.faults.append(Fault(count, status, delay, int(body.get("retry_after", 1))))
        return {"queued": len(sim.faults)}

    @router.post("/rate_limit")
    async def rate_limit(request: Request) -> dict[str, float]:
        """Change the limit for this session (a reset restores the app's): lets a test reach a 429 quickly."""
        body = await _body(request)
        limit = RateLimit(int(body.get("requests", 1000)), float(body.get("window_seconds", 900)))
        if limit.requests < 1 or limit.window_seconds <= 0:
            raise invalid_argument("rate_limit", "at least 1 request in a positive window")
        sim.requests.clear(limit)
        return {"requests": limit.requests, "window_seconds": limit.window_seconds}

    @router.get("/calls")
    async def calls() -> list[dict[str, Any]]:
        return sim.calls

    @router.get("/deliveries")
    async def deliveries(settle_seconds: float = 0.0) -> list[dict[str, Any]]:
        """What was sent and answered; with `settle_seconds`, once the deliveries under way have ended."""
        await sim.webhooks.settle(settle_seconds)
        return [d.to_json() for d in sim.webhooks.deliveries.values()]

    @router.post("/deliveries/{delivery_id}/replay")
    async def replay(delivery_id: str) -> dict[str, Any]:
        delivery = sim.webhooks.replay(delivery_id)
        if delivery is None:
            raise not_found("Delivery")
        return delivery.to_json()

    @router.post("/webhook")
    async def webhook(request: Request) -> dict[str, str | None]:
        url = (await _body(request)).get("url")
        sim.webhooks.url = str(url) if url else None
        return {"url": sim.webhooks.url}

    @router.post("/clock")
    async def clock(request: Request) -> dict[str, str]:
        """Move the simulated time: `{advance_seconds}` forward, or `{now}` to an RFC 3339 instant."""
        body = await _body(request)
        if "now" in body:
            target = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
            if target.tzinfo is None:
                raise invalid_argument("now", "an RFC 3339 datetime with an offset")
            sim.offset += target - sim.now()
        else:
            sim.offset += timedelta(seconds=float(body.get("advance_seconds", 0)))
        return {"now": sim.now().isoformat()}

    return router
