"""A Todoist API v1 simulator: OAuth, tasks, projects, the user, limits, faults and webhooks, in memory.

It serves both of Todoist's origins from one app: `/oauth/...` stands for `https://todoist.com/oauth`
and `/api/v1/...` for `https://api.todoist.com/api/v1`, so `todoist-api-python` works against it once
those two origins are rewritten to the simulator's. `/_sim/...` is the control surface for tests (see
`todoist_control`). Everything lives in one uvicorn loop; there are no locks because nothing awaits in
the middle of a change.
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from oo_simulators.todoist_control import control_routes
from oo_simulators.todoist_limits import Fault, RateLimit, RequestCounter
from oo_simulators.todoist_oauth import Authorizations, ClientApp, Grant, Need, oauth_error, unauthorized
from oo_simulators.todoist_state import Accounts, ApiError, TaskEvent
from oo_simulators.todoist_tasks import api_routes
from oo_simulators.todoist_webhooks import Webhooks

__all__ = ["ClientApp", "RateLimit", "Simulator", "create_app"]

MAX_BODY_BYTES = 1024 * 1024
DEMO_CLIENT_ID = "oo-demo"
DEMO_CLIENTS = {DEMO_CLIENT_ID: ClientApp("oo-demo-secret", "http://127.0.0.1:8000/integrations/todoist/callback")}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Simulator:
    """The simulator's whole state, shared by its routes."""

    def __init__(
        self,
        clients: Mapping[str, ClientApp],
        webhook_url: str | None,
        clock: Callable[[], datetime],
        rate_limit: RateLimit,
        webhook_retry_seconds: float,
    ) -> None:
        self._clock = clock
        self.offset = timedelta()  # moved by `POST /_sim/clock`, so tests can expire codes and tokens
        self.rate_limit = rate_limit
        self.requests = RequestCounter(rate_limit)
        self.initial_webhook_url = webhook_url
        self.accounts = Accounts()
        self.auth = Authorizations(dict(clients))
        self.webhooks = Webhooks(webhook_url, webhook_retry_seconds, self.now)
        self.faults: deque[Fault] = deque()
        self.calls: list[dict[str, Any]] = []

    def now(self) -> datetime:
        return self._clock() + self.offset

    async def reset(self) -> None:
        await self.webhooks.reset()
        self.webhooks.url = self.initial_webhook_url
        self.offset = timedelta()
        self.accounts = Accounts()
        self.auth.reset()
        self.faults.clear()
        self.calls.clear()
        self.requests.clear(self.rate_limit)

    def grant(self, request: Request, need: Need | None) -> Grant:
        """The caller's grant: 401 without a live token, 429 over the limit, 403 when its scopes fall short."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise unauthorized()
        now = self.now()
        grant = self.auth.grant_for(token, now)
        self.requests.count(token, now)
        if need is not None and not grant.allows(need):
            raise ApiError(403, "Insufficient token scope", "AUTH_INSUFFICIENT_TOKEN_SCOPE", needed=need)
        self.accounts.user(grant.user_id, now)
        return grant

    def publish(self, event: TaskEvent) -> None:
        """Notify every app the person has authorized, as Todoist activates webhooks per OAuth grant."""
        person = self.accounts.users[event.user_id].to_json()
        payload: dict[str, Any] = {
            "event_name": event.name,
            "user_id": event.user_id,
            "event_data": event.task,
            "initiator": {
                "id": person["id"],
                "email": person["email"],
                "full_name": person["full_name"],
                "image_id": None,
                "is_premium": False,
            },
            "triggered_at": self.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "version": "10",
        }
        if event.old_task is not None:
            payload["event_data_extra"] = {"old_item": event.old_task, "update_intent": event.update_intent}
        for client_id in self.auth.authorized_clients(event.user_id):
            self.webhooks.send(client_id, self.auth.clients[client_id].client_secret, event.user_id, payload)


def create_app(
    *,
    clients: Mapping[str, ClientApp] | None = None,
    webhook_url: str | None = None,
    clock: Callable[[], datetime] = _utc_now,
    rate_limit: RateLimit | None = None,
    webhook_retry_seconds: float = 15 * 60.0,
) -> FastAPI:
    """The simulator's ASGI app. `clients` maps each client id to its app (a demo app when omitted)."""
    sim = Simulator(clients or DEMO_CLIENTS, webhook_url, clock, rate_limit or RateLimit(), webhook_retry_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await sim.webhooks.aclose()

    app = FastAPI(title="Todoist API v1 simulator", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.simulator = sim

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        headers = {"Retry-After": str(error.extra["retry_after"])} if "retry_after" in error.extra else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.middleware("http")
    async def provider_edge(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if not (path.startswith("/api/") or path == "/oauth/access_token"):
            return await call_next(request)
        response = await _edge(sim, request, call_next)
        sim.calls.append(
            {"method": request.method, "path": path, "query": request.url.query, "status": response.status_code}
        )
        return response

    _oauth_routes(app, sim)
    app.include_router(api_routes(sim))
    app.include_router(control_routes(sim))
    return app


async def _edge(sim: Simulator, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """What Todoist's edge does before an endpoint: the body limit and the faults a test injected."""
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        error = ApiError(413, "Request entity too large", "REQUEST_ENTITY_TOO_LARGE")
        return JSONResponse(error.body(), status_code=413)
    if sim.faults:
        fault = sim.faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            sim.faults.popleft()
        if fault.delay_seconds:
            await asyncio.sleep(fault.delay_seconds)
        if fault.status is not None:
            extra = {"retry_after": fault.retry_after} if fault.status == 429 else {}
            error = ApiError(fault.status, "Simulated fault", "SIMULATED_FAULT", **extra)
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else None
            return JSONResponse(error.body(), status_code=fault.status, headers=headers)
    return await call_next(request)


async def _fields(request: Request) -> dict[str, str]:
    """A form body, as OAuth clients send, or a JSON one, as `todoist-api-python` sends."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise oauth_error("invalid_request") from None
        return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
    # urlencoded only, parsed here: OAuth bodies never carry files, and it spares a multipart dependency.
    return dict(parse_qsl((await request.body()).decode(errors="replace")))


def _oauth_routes(app: FastAPI, sim: Simulator) -> None:
    @app.get("/oauth/authorize")
    async def authorize(client_id: str = "", scope: str = "", state: str | None = None) -> Response:
        client = sim.auth.clients.get(client_id)
        if client is None:
            return HTMLResponse("<h1>Invalid client_id</h1>", status_code=400)
        key, value = sim.auth.authorize(client_id, scope, state, sim.now())
        joiner = "&" if "?" in client.redirect_uri else "?"
        query = {key: value} | ({"state": state} if state is not None else {})
        return RedirectResponse(f"{client.redirect_uri}{joiner}{urlencode(query)}", 302)

    @app.post("/oauth/access_token")
    async def access_token(request: Request) -> dict[str, object]:
        fields = await _fields(request)
        client_id = fields.get("client_id", "")
        sim.auth.check_client(client_id, fields.get("client_secret", ""))
        if fields.get("grant_type", "authorization_code") == "refresh_token":
            return sim.auth.exchange_refresh(client_id, fields.get("refresh_token", ""), sim.now())
        return sim.auth.exchange_code(client_id, fields.get("code", ""), sim.now())

    @app.post("/api/v1/revoke")
    async def revoke(request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            client_id, secret = "", ""
        if scheme.lower() != "basic":
            raise oauth_error("incorrect_application_credentials", 401)
        try:
            sim.auth.check_client(client_id, secret)
        except ApiError:
            raise oauth_error("incorrect_application_credentials", 401) from None
        sim.auth.revoke(client_id, (await _fields(request)).get("token", ""))
        return Response(status_code=200)

    @app.delete("/api/v1/access_tokens")
    async def revoke_legacy(client_id: str = "", client_secret: str = "", access_token: str = "") -> Response:
        sim.auth.check_client(client_id, client_secret)
        sim.auth.revoke(client_id, access_token)
        return Response(status_code=204)
