"""The calendar connectors built together: what the composition root registers and schedules."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from oo_contracts.consents import ConsentPurpose
from services.integrations.calendar.caldav_reader import CalDavReader
from services.integrations.calendar.connector import CalendarConnector, CalendarDeps
from services.integrations.calendar.google import PROVIDER as GOOGLE
from services.integrations.calendar.google import GoogleFreeBusyReader, GoogleOAuth
from services.integrations.calendar.ics_reader import IcsReader
from services.integrations.calendar.routes import build_router
from services.integrations.calendar.service import CalendarConnections, Calendars
from services.integrations.calendar.settings import CalendarSettings


class CalendarConnectors:
    """The three calendar connectors, their routes, and the scheduled refresh of every connected one."""

    def __init__(self, deps: CalendarDeps, settings: CalendarSettings, *, local_mode: bool) -> None:
        self._deps = deps
        self.settings = settings
        self.oauth = GoogleOAuth(settings)
        timeout = settings.calendar_timeout_seconds
        self.calendars = Calendars(
            caldav=CalendarConnector("caldav", ConsentPurpose.integration_caldav, CalDavReader(timeout), deps),
            ics=CalendarConnector(
                "ics",
                ConsentPurpose.integration_ics,
                IcsReader(timeout, settings.calendar_ics_max_bytes, local_mode),
                deps,
            ),
            google=CalendarConnector(
                GOOGLE,
                ConsentPurpose.integration_google_calendar,
                GoogleFreeBusyReader(settings),
                deps,
                revoker=self.oauth,
                renewer=self.oauth,
            ),
        )
        self.connections = CalendarConnections(self.calendars, deps, self.oauth, settings, local_mode)

    @property
    def all(self) -> tuple[CalendarConnector, ...]:
        return self.calendars.all

    def router(self) -> APIRouter:
        return build_router(self.connections)

    async def connected_people(self) -> list[str]:
        """Everyone with a calendar connected: the periodic fan-out defers one refresh job each."""
        return await self._people_connected_to([connector.provider for connector in self.all])

    async def renewing_people(self) -> list[str]:
        """Everyone with a calendar connected whose tokens expire (Google): the `token_refresh` fan-out."""
        return await self._people_connected_to([c.provider for c in self.all if c.renews_tokens])

    async def _people_connected_to(self, providers: list[str]) -> list[str]:
        async with self._deps.transaction(write=False) as uow:
            pairs = await self._deps.repository.connected(uow, providers)
        return sorted({user_id for user_id, _ in pairs})

    async def renew_tokens(self, user_id: str, before: timedelta) -> None:
        """Renew each of the person's expiring calendar grants that ends within `before` (the
        `token_refresh` job); a failure is logged or recorded on its connection, never raised."""
        for connector in self.all:
            await connector.renew_token(user_id, before)

    async def refresh_person(self, user_id: str) -> None:
        """Read each of the person's connected calendars once (the `calendar_refresh` job); a failure is
        recorded on its connection, never raised."""
        by_provider = {connector.provider: connector for connector in self.all}
        async with self._deps.transaction(write=False) as uow:
            pairs = await self._deps.repository.connected(uow, list(by_provider), user_id)
        for _, provider in pairs:
            await by_provider[provider].refresh(user_id)
