"""What a browser's request to oO carries besides a token: the cookies' names, and where it came from.

The gateway (which resolves a cookie to a person) and the auth module (which sets the cookies) both
decide from here, so the name written and the name read are always the same one.
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

from starlette.requests import Request

# Browsers keep a `__Host-` cookie only when it is Secure, has Path=/ and no Domain (RFC 6265bis): it
# cannot be set by a sibling subdomain nor sent over plain http.
SESSION_COOKIE = "__Host-oo_session"
LOGIN_COOKIE = "__Host-oo_login"
# Over plain http on loopback (tests, local development) a Secure cookie is not an option, so the
# prefix is not either: these names, without Secure, are used there and nowhere else.
LOOPBACK_SESSION_COOKIE = "oo_session"
LOOPBACK_LOGIN_COOKIE = "oo_login"
# The page sends it on every call. A cross-site form or a "simple" request cannot carry a custom
# header, and a cross-origin fetch that tries needs a CORS preflight oO never grants.
CSRF_HEADER = "X-OO-CSRF"

_DEFAULT_PORTS = {"http": 80, "https": 443}
Origin = tuple[str, str, int]  # scheme, host, port: what a browser compares


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plain_loopback(request: Request) -> bool:
    """A plain-http request to a loopback address: the only place cookies go without Secure."""
    host = urlsplit(f"//{request.headers.get('host', '')}").hostname
    return request.url.scheme == "http" and is_loopback(host)


def session_cookie_name(request: Request) -> str:
    return LOOPBACK_SESSION_COOKIE if plain_loopback(request) else SESSION_COOKIE


def login_cookie_name(request: Request) -> str:
    return LOOPBACK_LOGIN_COOKIE if plain_loopback(request) else LOGIN_COOKIE


def origin_of(url: str) -> Origin | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


def own_origin(request: Request, public_url: str | None = None) -> Origin | None:
    """The origin the browser sent this request to: the configured public URL's, or the one its Host names."""
    if public_url:
        return origin_of(public_url)
    return origin_of(f"{request.url.scheme}://{request.headers.get('host', '')}")
