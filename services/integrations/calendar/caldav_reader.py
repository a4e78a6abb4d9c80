"""Reading a CalDAV server (Radicale, Nextcloud, iCloud, Fastmail…) with the `caldav` library: every
calendar of the person's principal, events in the window, expanded here, only their times kept.

The library is synchronous: each read runs on a worker thread, never on the event loop's.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from caldav.davclient import DAVClient
from caldav.lib import error as dav_error
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from services.integrations.calendar.busy import Block, NotACalendar, Window, busy_blocks
from services.integrations.calendar.reading import CalendarRefused, CalendarUnavailable
from services.integrations.service import ProviderTokens


class CalDavCredentials(BaseModel):
    """What the person gives: the server's address, their user name and an app password. Stored as one
    sealed secret (the connection's access token), never shown again."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$")
    username: str = Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")
    password: SecretStr = Field(min_length=1, max_length=1024)

    def sealed_form(self) -> str:
        return json.dumps({"url": self.url, "username": self.username, "password": self.password.get_secret_value()})

    @classmethod
    def of(cls, tokens: ProviderTokens) -> CalDavCredentials:
        return cls.model_validate_json(tokens.access_token)


@dataclass(frozen=True)
class CalDavReader:
    timeout_seconds: float

    async def read(self, credentials: ProviderTokens, window: Window) -> list[Block]:
        return await asyncio.to_thread(self._read, CalDavCredentials.of(credentials), window)

    def _read(self, credentials: CalDavCredentials, window: Window) -> list[Block]:
        try:
            with DAVClient(
                url=credentials.url,
                username=credentials.username,
                password=credentials.password.get_secret_value(),
                timeout=int(max(1, self.timeout_seconds)),
            ) as client:
                calendars = client.principal().calendars()  # type: ignore[no-untyped-call]
                texts = [
                    found.data
                    for calendar in calendars
                    for found in calendar.search(start=window.start, end=window.end, event=True, expand=False)
                ]
            return busy_blocks(texts, window)
        except dav_error.AuthorizationError:
            raise CalendarRefused("unauthorized", "the CalDAV server refused this user name and password") from None
        except dav_error.DAVError:
            raise CalendarUnavailable("not_caldav", "the address does not answer as a CalDAV server") from None
        except NotACalendar:
            raise CalendarUnavailable(
                "bad_answer", "the CalDAV server answered with something not a calendar"
            ) from None
        except OSError:  # refused, unresolvable, timed out: the HTTP library's errors are all OSErrors
            raise CalendarUnavailable("unreachable", "the CalDAV server cannot be reached") from None
        except Exception:  # an answer the library cannot parse (an HTML page, broken XML)
            raise CalendarUnavailable("not_caldav", "the address does not answer as a CalDAV server") from None
