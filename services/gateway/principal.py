"""Resolving a request to its Principal: a bearer token (personal token or access JWT), the page's
session cookie outside local mode, or the local user in local mode."""

from __future__ import annotations

from functools import partial
from urllib.parse import urlsplit

from fastapi import Request

from oo_contracts.identity import Principal
from services.kernel.browser import CSRF_HEADER, is_loopback, origin_of, own_origin, session_cookie_name
from services.kernel.database import Database
from services.kernel.errors import Forbidden, Unauthenticated
from services.kernel.ports import IdentityPort
from services.kernel.unit_of_work import UnitOfWork

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class PrincipalResolver:
    def __init__(
        self, identity: IdentityPort, *, local_mode: bool, database: Database, public_url: str | None = None
    ) -> None:
        self._identity = identity
        self._local_mode = local_mode
        self._database = database
        self._public_url = public_url

    async def __call__(self, request: Request, uow: UnitOfWork) -> Principal:
        principal = await self.find(request, uow, create_local=True)
        assert principal is not None  # creating the local user when missing, never None
        return principal

    async def find(self, request: Request, uow: UnitOfWork, *, create_local: bool = False) -> Principal | None:
        """The caller; in local mode None when the local user does not exist yet and may not be made here."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("use `Authorization: Bearer <token>`")
            principal = await self._identity.principal_for_token(uow, token.strip())
            if principal is None:
                raise Unauthenticated("the token is invalid or revoked")
            return principal
        if self._local_mode:
            self._check_local_request(request)
            if create_local:
                return await self._identity.local_principal(uow)
            return await self._identity.existing_local_principal(uow)
        secret = request.cookies.get(session_cookie_name(request))
        if secret is not None:
            self._check_cookie_write(request)
            found = await self._identity.principal_for_session(uow, secret)
            if found is None:
                raise Unauthenticated("the session has ended: sign in again")
            principal, touch_due = found
            if touch_due:
                uow.after_commit(partial(self._touch, secret))
            return principal
        raise Unauthenticated("send `Authorization: Bearer <token>`, or sign in")

    async def _touch(self, secret: str) -> None:
        # After the request's own transaction: a read stays a read, and a session's idle clock restarts.
        async with self._database.transaction() as uow:
            await self._identity.touch_session(uow, secret)

    def refuse_early(self, request: Request) -> None:
        """Refuse, before the body is read or a transaction opened, what no lookup could accept: no
        credential outside local mode, a malformed one, a token that is no token of oO's or an access
        token that does not verify. A well-formed personal token is looked up later, in the use case."""
        authorization = request.headers.get("authorization")
        if authorization is None:
            if self._local_mode:
                return
            if request.cookies.get(session_cookie_name(request)) is None:
                raise Unauthenticated("send `Authorization: Bearer <token>`, or sign in")
            self._check_cookie_write(request)
            return
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use `Authorization: Bearer <token>`")
        if not self._identity.could_be_valid(token.strip()):
            raise Unauthenticated("the token is invalid or revoked")

    def _check_cookie_write(self, request: Request) -> None:
        """A write the browser sent on its own, with the cookie, is no wish of the person (CSRF): a write
        authenticated by the cookie must carry oO's header (which no form and no cross-origin request
        without oO's consent can send) and, when the browser names where it comes from, come from here."""
        if request.method in _SAFE_METHODS:
            return
        if request.headers.get(CSRF_HEADER) is None:
            raise Forbidden(f"a write signed in by cookie must carry the `{CSRF_HEADER}` header", code="csrf")
        origin = request.headers.get("origin")
        if origin is not None:
            if origin_of(origin) != own_origin(request, self._public_url):
                raise Forbidden(
                    f"writes are accepted only from oO's own page, not from {origin!r}", code="cross_origin"
                )
        elif request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
            raise Forbidden("writes are accepted only from oO's own page", code="cross_origin")

    @staticmethod
    def _check_local_request(request: Request) -> None:
        # Local mode trusts this machine only. A Host that is not loopback means DNS rebinding. On a
        # write, an Origin other than the one the request was sent to is a page oO did not serve — a
        # site's, or another local server's on another port — acting as the local user (CSRF).
        client = request.client.host if request.client else None
        host = request.headers.get("host", "")
        if not is_loopback(client) or not is_loopback(urlsplit(f"//{host}").hostname):
            raise Forbidden("local mode only serves requests from this machine", code="not_local")
        origin = request.headers.get("origin")
        if request.method in _SAFE_METHODS or origin is None:
            return
        own = own_origin(request)
        if own is None or origin_of(origin) != own:
            raise Forbidden(
                f"local mode accepts writes only from its own page ({request.url.scheme}://{host}), "
                f"not from {origin!r}",
                code="cross_origin",
            )
