"""Resolving a request to its Principal: a personal API token, or the local user in local mode."""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

from fastapi import Request

from oo_contracts.identity import Principal
from services.kernel.errors import Forbidden, Unauthenticated
from services.kernel.ports import IdentityPort
from services.kernel.unit_of_work import UnitOfWork

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]  # scheme, host, port: what a browser compares


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin(url: str) -> Origin | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def _own_origin(request: Request) -> Origin | None:
    """The origin the browser sent this request to: the page oO serves there is the only one to trust."""
    return _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")


class PrincipalResolver:
    def __init__(self, identity: IdentityPort, *, local_mode: bool) -> None:
        self._identity = identity
        self._local_mode = local_mode

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
        raise Unauthenticated("send `Authorization: Bearer <token>`")

    def refuse_early(self, request: Request) -> None:
        """Refuse, before the body is read or a transaction opened, what no lookup could accept: no
        credential outside local mode, a malformed one, a token that is no token of oO's or an access
        token that does not verify. A well-formed personal token is looked up later, in the use case."""
        authorization = request.headers.get("authorization")
        if authorization is None:
            if not self._local_mode:
                raise Unauthenticated("send `Authorization: Bearer <token>`")
            return
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use `Authorization: Bearer <token>`")
        if not self._identity.could_be_valid(token.strip()):
            raise Unauthenticated("the token is invalid or revoked")

    @staticmethod
    def _check_local_request(request: Request) -> None:
        # Local mode trusts this machine only. A Host that is not loopback means DNS rebinding. On a
        # write, an Origin other than the one the request was sent to is a page oO did not serve — a
        # site's, or another local server's on another port — acting as the local user (CSRF).
        client = request.client.host if request.client else None
        host = request.headers.get("host", "")
        if not _is_loopback(client) or not _is_loopback(urlsplit(f"//{host}").hostname):
            raise Forbidden("local mode only serves requests from this machine", code="not_local")
        origin = request.headers.get("origin")
        if request.method in _SAFE_METHODS or origin is None:
            return
        own = _own_origin(request)
        if own is None or _origin(origin) != own:
            raise Forbidden(
                f"local mode accepts writes only from its own page ({request.url.scheme}://{host}), "
                f"not from {origin!r}",
                code="cross_origin",
            )
