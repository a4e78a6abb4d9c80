"""A stand-in for Google's OAuth 2.0 server and the Calendar API's `freeBusy`, as documented:

- authorize (`/o/oauth2/v2/auth`): the code flow with PKCE (S256), exact redirect URIs, `state` returned
  as given, `error=access_denied` when the person declines; an unknown client or redirect URI is an error
  page at Google, never a redirect;
- token (`/token`): `authorization_code` (single-use codes, ten minutes, the PKCE verifier checked) and
  `refresh_token` (no new refresh token); `invalid_grant` / `invalid_client` bodies as Google sends them;
- revoke (`/revoke`, form `token=`): 200, or 400 `invalid_token`; revoking ends the whole grant;
- `POST /calendar/v3/freeBusy`: busy blocks of `primary` within `timeMin`…`timeMax`; Google's error
  envelope for 401 (`authError`), 403 (`rateLimitExceeded`), 429 and 500 (`backendError`).

Tests drive it under `/_sim/`: register clients, decide the next consent, seed busy blocks per user,
inject faults (a status, or a delay) per user, shorten token lifetimes, and read the calls made.
State is in memory; nothing here is for production.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

FREEBUSY_SCOPE = "https://www.googleapis.com/auth/calendar.freebusy"
CODE_SECONDS = 600

_REASONS = {401: "authError", 403: "rateLimitExceeded", 429: "rateLimitExceeded", 500: "backendError"}
_MESSAGES = {
    401: "Request had invalid authentication credentials.",
    403: "Rate Limit Exceeded",
    429: "Rate Limit Exceeded",
    500: "Backend Error",
}


@dataclass
class Grant:
    user: str
    client_id: str
    scopes: list[str]
    refresh_token: str
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic seconds)
    revoked: bool = False


@dataclass
class Fault:
    status: int | None = None
    reason: str | None = None
    delay: float = 0.0
    count: int = 1


@dataclass
class State:
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_consent: dict[str, Any] = field(default_factory=lambda: {"user": "person@example.com", "decision": "allow"})
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: list[Grant] = field(default_factory=list)
    busy: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    access_token_seconds: int = 3599
    calls: list[dict[str, Any]] = field(default_factory=list)

    def grant_of_access(self, token: str) -> Grant | None:
        for grant in self.grants:
            expiry = grant.access_tokens.get(token)
            if expiry is not None and not grant.revoked and expiry > time.monotonic():
                return grant
        return None

    def grant_of_refresh(self, token: str) -> Grant | None:
        return next((g for g in self.grants if g.refresh_token == token and not g.revoked), None)

    def issue_access(self, grant: Grant) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(32)
        grant.access_tokens[token] = time.monotonic() + self.access_token_seconds
        return {
            "access_token": token,
            "expires_in": self.access_token_seconds,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }


def _token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _api_error(status: int, reason: str | None = None) -> JSONResponse:
    reason = reason or _REASONS.get(status, "backendError")
    message = _MESSAGES.get(status, "Error")
    domain = "usageLimits" if reason.endswith("RateLimitExceeded") or reason == "rateLimitExceeded" else "global"
    body = {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }
    }
    if status == 401:
        body["error"]["status"] = "UNAUTHENTICATED"
    return JSONResponse(
        body,
        status_code=status,
        headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'} if status == 401 else None,
    )


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode()
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    return form.get("client_id"), form.get("client_secret")


def create_app(*, access_token_seconds: int = 3599) -> FastAPI:
    state = State(access_token_seconds=access_token_seconds)
    app = FastAPI(title="Google Calendar simulator", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.sim = state

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        if not request.url.path.startswith("/_sim/"):
            body = (await request.body()).decode(errors="replace")
            state.calls.append(
                {"method": request.method, "path": request.url.path, "query": str(request.url.query), "body": body}
            )
        response: Response = await call_next(request)
        return response

    # ---- OAuth 2.0 ---------------------------------------------------------------------------

    @app.get("/o/oauth2/v2/auth")
    async def authorize(request: Request) -> Response:
        q = request.query_params
        client = state.clients.get(q.get("client_id", ""))
        if client is None:
            return HTMLResponse("Error 401: invalid_client — The OAuth client was not found.", status_code=401)
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in client["redirect_uris"]:
            return HTMLResponse("Error 400: redirect_uri_mismatch", status_code=400)
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return HTMLResponse("Error 400: invalid_request", status_code=400)
        consent = state.next_consent
        answer: dict[str, str] = {}
        if consent["decision"] == "deny":
            answer["error"] = "access_denied"
        else:
            code = "4/" + secrets.token_urlsafe(24)
            requested = q.get("scope", "").split()
            granted = consent.get("scopes", requested)
            state.codes[code] = {
                "client_id": client["client_id"],
                "redirect_uri": redirect_uri,
                "challenge": q["code_challenge"],
                "user": consent["user"],
                "scopes": [s for s in granted if s in requested],
                "expires": time.monotonic() + CODE_SECONDS,
            }
            answer["code"] = code
            answer["scope"] = " ".join(state.codes[code]["scopes"])
        if "state" in q:
            answer["state"] = q["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await _form(request)
        client_id, secret = _client_credentials(request, form)
        client = state.clients.get(client_id or "")
        if client is None or client["client_secret"] != secret:
            return _token_error("invalid_client", "Unauthorized", 401)
        if form.get("grant_type") == "authorization_code":
            issued = state.codes.pop(form.get("code", ""), None)
            if issued is None or issued["expires"] < time.monotonic() or issued["client_id"] != client_id:
                return _token_error("invalid_grant", "Bad Request")
            if issued["redirect_uri"] != form.get("redirect_uri"):
                return _token_error("redirect_uri_mismatch", "Bad Request")
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if challenge != issued["challenge"]:
                return _token_error("invalid_grant", "Invalid code verifier.")
            grant = Grant(issued["user"], client_id or "", issued["scopes"], "1//" + secrets.token_urlsafe(32))
            state.grants.append(grant)
            return JSONResponse({**state.issue_access(grant), "refresh_token": grant.refresh_token})
        if form.get("grant_type") == "refresh_token":
            refreshed = state.grant_of_refresh(form.get("refresh_token", ""))
            if refreshed is None or refreshed.client_id != client_id:
                return _token_error("invalid_grant", "Token has been expired or revoked.")
            return JSONResponse(state.issue_access(refreshed))
        return _token_error("unsupported_grant_type", "Invalid grant_type: " + form.get("grant_type", ""))

    @app.post("/revoke")
    async def revoke(request: Request) -> Response:
        form = await _form(request)
        given = form.get("token", "") or request.query_params.get("token", "")
        grant = state.grant_of_refresh(given) or state.grant_of_access(given)
        if grant is None:
            return _token_error("invalid_token", "Token expired or revoked")
        grant.revoked = True
        return JSONResponse({})

    # ---- Calendar API v3 ---------------------------------------------------------------------

    @app.post("/calendar/v3/freeBusy")
    async def free_busy(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        grant = state.grant_of_access(header[7:]) if header.lower().startswith("bearer ") else None
        if grant is None:
            return _api_error(401)
        faults = state.faults.get(grant.user, [])
        if faults:
            fault = faults[0]
            fault.count -= 1
            if fault.count <= 0:
                faults.pop(0)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                return _api_error(fault.status, fault.reason)
        if FREEBUSY_SCOPE not in grant.scopes:
            return _api_error(403, "insufficientPermissions")
        body = await request.json()
        start, end = _moment(body["timeMin"]), _moment(body["timeMax"])
        calendars: dict[str, Any] = {}
        for item in body.get("items", []):
            if item.get("id") in ("primary", grant.user):
                busy = [
                    b for b in state.busy.get(grant.user, []) if _moment(b["end"]) > start and _moment(b["start"]) < end
                ]
                calendars[item["id"]] = {"busy": busy}
            else:
                calendars[item["id"]] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
        return JSONResponse(
            {
                "kind": "calendar#freeBusy",
                "timeMin": body["timeMin"],
                "timeMax": body["timeMax"],
                "calendars": calendars,
            }
        )

    # ---- control, for tests ------------------------------------------------------------------

    @app.post("/_sim/clients")
    async def add_client(request: Request) -> Response:
        client = await request.json()
        state.clients[client["client_id"]] = client
        return JSONResponse(client)

    @app.post("/_sim/consent")
    async def next_consent(request: Request) -> Response:
        state.next_consent = await request.json()
        return JSONResponse(state.next_consent)

    @app.put("/_sim/users/{user}/busy")
    async def seed_busy(user: str, request: Request) -> Response:
        state.busy[user] = await request.json()
        return JSONResponse(state.busy[user])

    @app.post("/_sim/users/{user}/faults")
    async def add_fault(user: str, request: Request) -> Response:
        state.faults.setdefault(user, []).append(Fault(**await request.json()))
        return JSONResponse({"queued": len(state.faults[user])})

    @app.post("/_sim/users/{user}/revoke")
    async def revoke_user(user: str) -> Response:
        """The person removed oO's access in their Google account."""
        for grant in state.grants:
            if grant.user == user:
                grant.revoked = True
        return JSONResponse({})

    @app.put("/_sim/access_token_seconds")
    async def set_lifetime(request: Request) -> Response:
        state.access_token_seconds = int((await request.json())["seconds"])
        return JSONResponse({"seconds": state.access_token_seconds})

    @app.get("/_sim/calls")
    async def calls() -> Response:
        return JSONResponse(state.calls)

    return app


async def _form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body, as the token and revoke endpoints take it."""
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
