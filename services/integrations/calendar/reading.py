"""What reading a calendar provider can end in, whatever the provider: blocks, or one of three failures."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Protocol
from urllib.parse import urlsplit

from services.integrations.calendar.busy import Block, Window
from services.integrations.service import ProviderTokens


class CalendarProblem(Exception):
    """A provider did not give the blocks. `code` is a short word, recorded as the connection's
    `sync_error` and answered to the person; the message never quotes the provider's answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CalendarRefused(CalendarProblem):
    """The provider refused the credentials (401, a revoked grant): the person must connect again."""


class CalendarUnavailable(CalendarProblem):
    """The provider could not answer now (down, slow, rate-limited, a bad answer): try again later."""


class BusyReader(Protocol):
    async def read(self, credentials: ProviderTokens, window: Window) -> list[Block]:
        """The merged busy blocks overlapping `window`; a CalendarProblem if the provider does not give them."""
        ...


LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


async def check_reachable_url(url: str, *, local_mode: bool, what: str) -> str:
    """The URL oO may fetch for a person: https, or http on this machine; beyond local mode never an
    address inside the server's own network (oO must not be a way into it). Returns it normalised
    (`webcal://` is https). CalendarUnavailable(`invalid_url`) otherwise."""
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        raise CalendarUnavailable("invalid_url", f"the {what} is not a valid address") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http"):
        raise CalendarUnavailable("invalid_url", f"the {what} must be an https:// address")
    if not host:
        raise CalendarUnavailable("invalid_url", f"the {what} is not a valid address")
    if parts.scheme == "http" and not is_loopback(host):
        raise CalendarUnavailable("invalid_url", f"the {what} must be https:// (http only on this machine)")
    if parts.username or parts.password:
        raise CalendarUnavailable("invalid_url", f"the {what} must not carry a user or password")
    if not local_mode:
        try:
            addresses = await asyncio.get_running_loop().getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
        except OSError:
            raise CalendarUnavailable("unreachable", f"the {what}'s host is not found") from None
        except UnicodeError:  # a host no resolver can spell (uvloop's refuses it where asyncio's says OSError)
            raise CalendarUnavailable("invalid_url", f"the {what} is not a valid address") from None
        for address in addresses:
            ip = ipaddress.ip_address(address[4][0])
            if not ip.is_global:
                raise CalendarUnavailable("invalid_url", f"the {what} points inside this server's network")
    return url
