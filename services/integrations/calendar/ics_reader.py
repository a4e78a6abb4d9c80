"""Reading a calendar's secret subscription link (an ICS feed) with httpx: bounded in time, in size and
in redirects, each hop held to the same rules as the link itself."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, Field

from services.integrations.calendar.busy import Block, NotACalendar, Window, busy_blocks
from services.integrations.calendar.reading import (
    CalendarProblem,
    CalendarRefused,
    CalendarUnavailable,
    check_reachable_url,
)
from services.integrations.service import ProviderTokens

MAX_REDIRECTS = 3


class IcsLink(BaseModel):
    """A calendar's secret address, as the calendar app shows it (https:// or webcal://)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, pattern=r"^([Hh][Tt][Tt][Pp][Ss]?|[Ww][Ee][Bb][Cc][Aa][Ll])://\S+$")


@dataclass(frozen=True)
class IcsReader:
    timeout_seconds: float
    max_bytes: int
    local_mode: bool

    async def read(self, credentials: ProviderTokens, window: Window) -> list[Block]:
        url = await check_reachable_url(credentials.access_token, local_mode=self.local_mode, what="calendar link")
        return parsed(await self._fetch(url), window)

    async def _fetch(self, url: str) -> bytes:
        async def each_hop(request: httpx.Request) -> None:
            await check_reachable_url(str(request.url), local_mode=self.local_mode, what="calendar link")

        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout_seconds,
                    follow_redirects=True,
                    max_redirects=MAX_REDIRECTS,
                    event_hooks={"request": [each_hop]},
                    headers={"accept": "text/calendar"},
                ) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code in (401, 403, 404, 410):
                    raise CalendarRefused("link_refused", "the calendar link no longer works; copy it again")
                if response.status_code != 200:
                    raise CalendarUnavailable("unavailable", "the calendar link does not answer now")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise CalendarUnavailable("too_large", "the calendar behind the link is too large")
                return bytes(body)
        except CalendarProblem:
            raise
        except httpx.TooManyRedirects:
            raise CalendarUnavailable("unreachable", "the calendar link redirects too often") from None
        except httpx.HTTPError:
            raise CalendarUnavailable("unreachable", "the calendar link cannot be reached") from None
        except httpx.InvalidURL:
            raise CalendarUnavailable("invalid_url", "the calendar link is not a valid address") from None


def parsed(body: bytes, window: Window) -> list[Block]:
    try:
        return busy_blocks([body], window)
    except NotACalendar:
        raise CalendarUnavailable("not_a_calendar", "the link does not lead to a calendar") from None
