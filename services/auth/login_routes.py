"""HTTP routes of login (OIDC), the page's sessions and linked logins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from oo_contracts.identity import AuthMethod, Principal, Scope
from services.auth.login import NEXT_PATH, Logins, StartedFlow
from services.auth.service import IdentityService
from services.auth.sessions import SESSION_ID, NewSession, digest
from services.auth.settings import PROVIDER_NAME, AuthSettings
from services.kernel.browser import login_cookie_name, plain_loopback, session_cookie_name
from services.kernel.errors import BadRequest, Forbidden, NotFound
from services.kernel.http import CurrentUnitOfWork, error_responses, http_context, require_scope
from services.kernel.rate_limits import CREDENTIALS, RateLimiter

CLEAR_COOKIES = {"Clear-Site-Data": '"cookies"'}
# Each answer of a login step: not stored by any cache, and no Referer from the page it leads to (the
# callback's URL holds the provider's code and state).
NO_TRACE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_STATE_PARAM = Query(max_length=128)
_CODE_PARAM = Query(max_length=2048)


class LoginProvider(BaseModel):
    name: str
    display_name: str
    login_url: str


class PageSession(BaseModel):
    session_id: str
    device: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


class LinkedLogin(BaseModel):
    provider: str
    display_name: str
    linked_at: datetime


class LinkStart(BaseModel):
    authorization_url: str


def _redirect_uri(request: Request, provider: str, public_url: str | None) -> str:
    base = (public_url or str(request.base_url)).rstrip("/")
    return f"{base}/v1/auth/callback/{provider}"


def _set_cookie(
    response: Response, request: Request, name: str, value: str, max_age: int, same_site: Literal["lax", "none"]
) -> None:
    # HttpOnly, Path=/, no Domain; Secure (and so the `__Host-` name) everywhere but plain http on loopback.
    secure = not plain_loopback(request)
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite=same_site if secure else "lax"
    )


def _clear_cookie(response: Response, request: Request, name: str) -> None:
    secure = not plain_loopback(request)
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


# A provider's name as the settings hold it; another shape names no provider (422 rather than 404).
ProviderParam = Annotated[str, Path(pattern=PROVIDER_NAME.pattern, description="A login provider's name.")]


def build_login_router(
    identity: IdentityService,
    logins: Logins,
    settings: AuthSettings,
    rate_limits: RateLimiter,
    *,
    public_url: str | None,
) -> APIRouter:
    # Where credentials are tried: starting a login and bringing its answer back (ADR 0028).
    limited = [Depends(rate_limits.guard(CREDENTIALS))]
    router = APIRouter()  # under the identity tag of the router it joins: one tag, one entry in /docs

    def known(provider: str) -> str:
        if not logins.offers(provider):
            raise NotFound(f"no login provider {provider!r} is configured", code="unknown_provider")
        return provider

    async def start(request: Request, provider: str, *, next_path: str | None, link_user_id: str | None) -> StartedFlow:
        made = await logins.authorization(provider, _redirect_uri(request, provider, public_url))
        async with http_context(request).database.transaction() as uow:
            await logins.forget_expired(uow)
            return await logins.record(uow, provider, made, next_path=next_path, link_user_id=link_user_id)

    def with_login_cookie(response: Response, request: Request, provider: str, started: StartedFlow) -> Response:
        # Apple posts its answer from its own site: a Lax cookie would stay behind, so this one is
        # SameSite=None (it opens nothing by itself: the callback needs the provider's state too).
        same_site: Literal["lax", "none"] = "none" if settings.response_mode_of(provider) == "form_post" else "lax"
        _set_cookie(response, request, login_cookie_name(request), started.cookie_value, started.max_age, same_site)
        return response

    @router.get("/v1/auth/providers", response_model=list[LoginProvider], summary="Where a person may sign in")
    async def providers() -> list[LoginProvider]:
        return [
            LoginProvider(name=name, display_name=settings.display_name_of(name), login_url=f"/v1/auth/login/{name}")
            for name in sorted(settings.oidc_providers)
        ]

    @router.get(
        "/v1/auth/login/{provider}",
        status_code=302,
        summary="Start signing in at a provider",
        response_class=RedirectResponse,
        responses={
            302: {"description": "To the provider's authorization endpoint."},
            **error_responses(404, 422, 429, 502, 503),
        },
        dependencies=limited,
    )
    async def login(
        provider: ProviderParam,
        request: Request,
        next: Annotated[
            str | None,
            Query(pattern=NEXT_PATH, description="A path of this site to return to; nothing else."),
        ] = None,
    ) -> Response:
        """Authorization code with PKCE (S256), a `state` bound to this browser by a pre-auth cookie and a
        `nonce`; the provider's discovery document must name the configured issuer (else 502)."""
        started = await start(request, known(provider), next_path=next, link_user_id=None)
        response = RedirectResponse(started.authorization_url, status_code=302, headers=NO_TRACE)
        return with_login_cookie(response, request, provider, started)

    async def finish(
        request: Request, provider: str, *, code: str | None, state: str | None, iss: str | None, error: str | None
    ) -> Response:
        known(provider)
        if error is not None:
            raise BadRequest(f"{provider} did not sign you in", code="login_refused")
        if not code or not state:
            raise BadRequest("the provider's answer lacks its code or state", code="invalid_callback")
        database = http_context(request).database
        async with database.transaction() as uow:
            flow = await logins.take(uow, provider, request.cookies.get(login_cookie_name(request)), state)
        verified = await logins.verify(flow, _redirect_uri(request, provider, public_url), code=code, iss=iss)
        async with database.transaction() as uow:
            new = await identity.complete_login(
                uow,
                flow,
                verified,
                user_agent=request.headers.get("user-agent"),
                replacing=request.cookies.get(session_cookie_name(request)),
            )
        response = RedirectResponse(flow.next_path or "/", status_code=303, headers=NO_TRACE)
        _clear_cookie(response, request, login_cookie_name(request))
        return with_session_cookie(response, request, new)

    callback_responses: dict[int | str, dict[str, Any]] = {
        303: {"description": "Signed in: to the page (or the `next` path the login started with)."},
        **error_responses(400, 403, 404, 409, 413, 422, 429, 502, 503),
    }

    @router.get(
        "/v1/auth/callback/{provider}",
        status_code=303,
        summary="The provider's answer to a login",
        response_class=RedirectResponse,
        responses=callback_responses,
        dependencies=limited,
    )
    async def callback(
        provider: ProviderParam,
        request: Request,
        code: Annotated[str | None, _CODE_PARAM] = None,
        state: Annotated[str | None, _STATE_PARAM] = None,
        iss: Annotated[str | None, Query(max_length=512)] = None,
        error: Annotated[str | None, Query(max_length=128)] = None,
    ) -> Response:
        """400 for a state this browser did not start here, or already used; 400 for an ID token that
        does not verify (signature, issuer, audience, expiry, nonce); 409 when linking a login another
        account holds."""
        if logins.offers(provider) and settings.response_mode_of(provider) == "form_post":
            raise BadRequest(f"{provider} answers by POST", code="invalid_callback")
        return await finish(request, provider, code=code, state=state, iss=iss, error=error)

    @router.post(
        "/v1/auth/callback/{provider}",
        status_code=303,
        summary="The provider's answer to a login, posted (Apple's `form_post`)",
        response_class=RedirectResponse,
        responses=callback_responses,
        dependencies=limited,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
            }
        },
    )
    async def callback_posted(provider: ProviderParam, request: Request) -> Response:
        known(provider)
        if settings.response_mode_of(provider) != "form_post":
            raise BadRequest(f"{provider} answers by redirect", code="invalid_callback")
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            raise BadRequest("a form is expected", code="invalid_callback")
        try:
            form = parse_qs((await request.body()).decode(), max_num_fields=8, strict_parsing=False)
        except (UnicodeDecodeError, ValueError) as problem:
            raise BadRequest("the form cannot be read", code="invalid_callback") from problem

        def field(name: str, limit: int) -> str | None:
            values = form.get(name)
            if not values:
                return None
            if len(values) != 1 or len(values[0]) > limit:
                raise BadRequest(f"the form's {name!r} is malformed", code="invalid_callback")
            return values[0]

        return await finish(
            request,
            provider,
            code=field("code", 2048),
            state=field("state", 128),
            iss=field("iss", 512),
            error=field("error", 128),
        )

    def with_session_cookie(response: Response, request: Request, new: NewSession) -> Response:
        _set_cookie(response, request, session_cookie_name(request), new.secret, new.max_age, "lax")
        return response

    def signed_out(request: Request, response: Response) -> Response:
        response.headers.update(CLEAR_COOKIES)
        _clear_cookie(response, request, session_cookie_name(request))
        return response

    @router.post(
        "/v1/auth/logout",
        status_code=204,
        summary="Sign this browser out",
        responses=error_responses(401, 403, 503),
    )
    async def logout(
        request: Request,
        principal: Annotated[Principal, Depends(require_scope(Scope.sessions_write))],
        uow: CurrentUnitOfWork,
    ) -> Response:
        """Ends the session the cookie names (its next use is a 401) and tells the browser to drop its
        cookies (`Clear-Site-Data`)."""
        secret = request.cookies.get(session_cookie_name(request))
        if principal.method == AuthMethod.session and secret is not None:
            await identity.sessions.end(uow, secret)
        return signed_out(request, Response(status_code=204))

    @router.get(
        "/v1/me/sessions",
        response_model=list[PageSession],
        summary="The browsers signed in as me",
        responses=error_responses(401, 403, 503),
    )
    async def my_sessions(
        request: Request,
        principal: Annotated[Principal, Depends(require_scope(Scope.account_read))],
        uow: CurrentUnitOfWork,
    ) -> list[PageSession]:
        secret = request.cookies.get(session_cookie_name(request)) if principal.method == AuthMethod.session else None
        mine = digest(secret) if secret else None
        return [
            PageSession(
                session_id=row.session_id,
                device=row.device,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
                current=row.secret_sha256 == mine,
            )
            for row in await identity.sessions.live_of(uow, principal.user_id)
        ]

    @router.delete(
        "/v1/me/sessions",
        status_code=204,
        summary="Sign out everywhere",
        responses=error_responses(401, 403, 503),
    )
    async def sign_out_everywhere(
        request: Request,
        principal: Annotated[Principal, Depends(require_scope(Scope.sessions_write))],
        uow: CurrentUnitOfWork,
    ) -> Response:
        """Every browser's session ends, and every API client's refresh family; personal API tokens stay."""
        await identity.sign_out_everywhere(uow, principal.user_id)
        response = Response(status_code=204)
        return signed_out(request, response) if principal.method == AuthMethod.session else response

    @router.delete(
        "/v1/me/sessions/{session_id}",
        status_code=204,
        summary="Sign one browser out",
        responses=error_responses(401, 403, 404, 422, 503),
    )
    async def end_session(
        session_id: Annotated[str, Path(pattern=SESSION_ID.pattern, description="A session's `id` from the list.")],
        request: Request,
        principal: Annotated[Principal, Depends(require_scope(Scope.sessions_write))],
        uow: CurrentUnitOfWork,
    ) -> Response:
        """404 for a session that is not one of the caller's live ones (another person's included)."""
        if not SESSION_ID.match(session_id) or not await identity.sessions.end_one(uow, principal.user_id, session_id):
            raise NotFound("no such session of yours", code="session_not_found")
        secret = request.cookies.get(session_cookie_name(request))
        live = await identity.sessions.live(uow, secret) if secret and principal.method == AuthMethod.session else None
        response = Response(status_code=204)
        ended_own = principal.method == AuthMethod.session and live is None
        return signed_out(request, response) if ended_own else response

    @router.get(
        "/v1/me/identities",
        response_model=list[LinkedLogin],
        summary="The logins linked to my account",
        responses=error_responses(401, 403, 503),
    )
    async def my_identities(
        principal: Annotated[Principal, Depends(require_scope(Scope.account_read))], uow: CurrentUnitOfWork
    ) -> list[LinkedLogin]:
        return [
            LinkedLogin(
                provider=row.provider,
                display_name=settings.display_name_of(row.provider)
                if row.provider in settings.oidc_providers
                else row.provider,
                linked_at=row.linked_at,
            )
            for row in await identity.identities_of(uow, principal.user_id)
        ]

    @router.post(
        "/v1/me/identities/{provider}",
        response_model=LinkStart,
        summary="Start linking another provider's login to my account",
        responses=error_responses(401, 403, 404, 422, 502, 503),
    )
    async def link(provider: ProviderParam, request: Request) -> Response:
        """The browser goes to `authorization_url`; the callback links the login it brings back to this
        account (409 if another account holds it) and renews the session."""
        context = http_context(request)
        # The caller in a read of its own: no transaction stays open while the provider is asked.
        async with context.database.transaction(write=False) as uow:
            principal = await context.resolve_principal(request, uow)
        if not principal.allows(Scope.sessions_write):
            raise Forbidden(f"this token lacks the scope {Scope.sessions_write.value!r}", code="insufficient_scope")
        started = await start(request, known(provider), next_path=None, link_user_id=principal.user_id)
        response = JSONResponse(LinkStart(authorization_url=started.authorization_url).model_dump(), headers=NO_TRACE)
        return with_login_cookie(response, request, provider, started)

    return router
