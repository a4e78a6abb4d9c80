"""Connecting a calendar: CalDAV credentials, an ICS link, or Google's OAuth code flow.

Each checks the person's consent first, reads the calendar with no transaction open (that read is the
check that the credentials work), then stores the credentials sealed and publishes what it read.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import structlog
from pydantic import AwareDatetime, BaseModel, Field

from oo_contracts.errors import ItemProblem
from oo_contracts.identity import Principal
from services.integrations.calendar.caldav_reader import CalDavCredentials
from services.integrations.calendar.connector import CalendarConnector, CalendarDeps
from services.integrations.calendar.google import PROVIDER as GOOGLE
from services.integrations.calendar.google import GoogleOAuth, GoogleOAuthFailed
from services.integrations.calendar.ics_reader import IcsLink
from services.integrations.calendar.reading import CalendarProblem, check_reachable_url
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.service import Connection, ProviderTokens
from services.kernel.errors import Conflict, NotFound, Unprocessable
from services.kernel.ports import Caller
from services.kernel.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)
STATE_LIFETIME = timedelta(minutes=10)

# What the page is told when Google's flow does not end in a connection, in plain words.
GOOGLE_ERRORS: dict[str, str] = {
    "access_denied": "You did not allow oO to see when your Google Calendar is busy.",
    "state_unknown": "This Google sign-in link was already used or is not oO's; connect again.",
    "state_expired": "The Google sign-in took too long; connect again.",
    "wrong_person": "This Google sign-in was started by another account; connect again.",
    "bad_code": "Google did not accept the sign-in; connect again.",
    "google_misconfigured": "This oO server's Google credentials are wrong; ask its operator.",
    "google_refused": "Google refused the sign-in; connect again.",
    "google_unavailable": "Google could not be reached; try again in a moment.",
    "scope_not_granted": "You did not tick the box that lets oO see when you are busy; connect again.",
    "consent_required": "Grant oO reading your Google Calendar in the settings first.",
    "unauthorized": "Google refused oO's grant; connect again.",
    "forbidden": "Google does not let oO read this calendar.",
    "rate_limited": "Google asks oO to slow down; try again in a few minutes.",
    "unreachable": "Google could not be reached; try again in a moment.",
    "bad_answer": "Google answered with something unexpected; try again later.",
}


class CalendarConnection(BaseModel):
    """A calendar connection as the person sees it: whether it works and when it was last read, never a
    credential."""

    provider: str
    connected: bool = Field(description="False once the provider refused the credentials: connect again.")
    stale: bool = Field(description="The last read failed: what oO knows of the calendar is as of `last_synced_at`.")
    sync_error: str | None = Field(description="Why the last read failed, in a word; null when it worked.")
    connected_at: AwareDatetime
    last_synced_at: AwareDatetime | None

    @classmethod
    def of(cls, connection: Connection) -> CalendarConnection:
        return cls(
            provider=connection.provider,
            connected=connection.connected,
            stale=connection.stale,
            sync_error=connection.sync_error,
            connected_at=connection.connected_at,
            last_synced_at=connection.last_synced_at,
        )


@dataclass(frozen=True)
class Calendars:
    caldav: CalendarConnector
    ics: CalendarConnector
    google: CalendarConnector

    @property
    def all(self) -> tuple[CalendarConnector, ...]:
        return (self.caldav, self.ics, self.google)


class CalendarConnections:
    def __init__(
        self, calendars: Calendars, deps: CalendarDeps, oauth: GoogleOAuth, settings: CalendarSettings, local_mode: bool
    ) -> None:
        self._calendars = calendars
        self._deps = deps
        self._oauth = oauth
        self._settings = settings
        self._local_mode = local_mode

    async def _person(self, caller: Caller, connector: CalendarConnector) -> str:
        """The caller, allowed to connect this calendar (409 `consent_required` if not), in one short read."""
        async with self._deps.transaction(write=False) as uow:
            principal: Principal | None = await caller.find(uow)
            if principal is not None:
                await connector.require_consent(uow, principal.user_id)
                return principal.user_id
        principal = await caller.make()  # local mode's very first request
        async with self._deps.transaction(write=False) as uow:
            await connector.require_consent(uow, principal.user_id)
        return principal.user_id

    async def connect_caldav(self, caller: Caller, credentials: CalDavCredentials) -> CalendarConnection:
        connector = self._calendars.caldav
        user_id = await self._person(caller, connector)
        try:
            url = await check_reachable_url(credentials.url, local_mode=self._local_mode, what="CalDAV address")
            checked = credentials.model_copy(update={"url": url})
            connection = await connector.connect(user_id, ProviderTokens(access_token=checked.sealed_form()))
        except CalendarProblem as problem:
            raise _refused(problem, "url" if problem.code != "unauthorized" else "password") from None
        return CalendarConnection.of(connection)

    async def connect_ics(self, caller: Caller, link: IcsLink) -> CalendarConnection:
        connector = self._calendars.ics
        user_id = await self._person(caller, connector)
        try:
            url = await check_reachable_url(link.url, local_mode=self._local_mode, what="calendar link")
            connection = await connector.connect(user_id, ProviderTokens(access_token=url))
        except CalendarProblem as problem:
            raise _refused(problem, "url") from None
        return CalendarConnection.of(connection)

    async def google_authorization_url(self, caller: Caller, redirect_uri: str) -> str:
        """Where to send the browser: Google's consent screen, with a fresh single-use `state` bound to
        the caller and a PKCE challenge whose verifier stays here."""
        async with self._deps.transaction(write=False) as uow:  # who asks, before what exists
            found: Principal | None = await caller.find(uow)
        if found is None:
            found = await caller.make()
        if not self._settings.google_configured:
            raise NotFound("Google Calendar is not set up on this server", code="integration_not_configured")
        user_id = await self._person(caller, self._calendars.google)
        state = secrets.token_urlsafe(32)
        redirect_uri = self._settings.google_redirect_uri or redirect_uri
        authorization = self._oauth.authorization(state, redirect_uri)
        now = self._deps.clock()
        async with self._deps.transaction() as uow:
            await self._deps.repository.drop_expired_states(uow, now)
            await self._deps.repository.add_state(
                uow,
                state_hash=_hashed(state),
                user_id=user_id,
                provider=GOOGLE,
                code_verifier=authorization.code_verifier,
                redirect_uri=redirect_uri,
                created_at=now,
                expires_at=now + STATE_LIFETIME,
            )
        return authorization.url

    async def google_callback(self, caller: Caller, code: str | None, state: str | None, error: str | None) -> str:
        """Where the browser goes back to: the page, told what became of the connection."""
        try:
            await self._google_callback(caller, code, state, error)
        except _FlowEnded as ended:
            log.info("google_calendar_connect_failed", reason=ended.code)
            # A code only: the page says it in its own words (words in the URL would be anyone's to write).
            return "/?" + urlencode({"integration": GOOGLE, "result": ended.code})
        return "/?" + urlencode({"integration": GOOGLE, "result": "connected"})

    async def _google_callback(self, caller: Caller, code: str | None, state: str | None, error: str | None) -> None:
        now = self._deps.clock()
        async with self._deps.transaction() as uow:
            # The state is spent whatever follows: a replayed callback finds nothing.
            pending = None if state is None else await self._deps.repository.take_state(uow, _hashed(state))
            principal = await caller.find(uow)
            allowed = principal is not None and await self._allowed(uow, principal.user_id)
        if pending is None or pending.provider != GOOGLE:
            raise _FlowEnded("state_unknown")
        if pending.expires_at <= now:
            raise _FlowEnded("state_expired")
        if principal is None or principal.user_id != pending.user_id:
            raise _FlowEnded("wrong_person")
        if error is not None:
            raise _FlowEnded("access_denied" if error == "access_denied" else "google_refused")
        if not allowed:
            raise _FlowEnded("consent_required")
        if not code:
            raise _FlowEnded("bad_code")
        try:
            tokens = await self._oauth.exchange(code, pending.code_verifier, pending.redirect_uri, now)
        except GoogleOAuthFailed as failed:
            raise _FlowEnded(failed.code) from None
        try:
            await self._calendars.google.connect(pending.user_id, tokens)
        except (CalendarProblem, Conflict) as problem:
            # A grant oO will not keep is given back at once, not left at Google unused.
            await self._give_back(tokens)
            code = problem.code if problem.code in GOOGLE_ERRORS else "google_unavailable"
            raise _FlowEnded(code) from None

    async def _give_back(self, tokens: ProviderTokens) -> None:
        try:
            await self._oauth.revoke(tokens)
        except Exception as error:
            log.warning("integration_revoke_failed", provider=GOOGLE, error=type(error).__name__)

    async def _allowed(self, uow: UnitOfWork, user_id: str) -> bool:
        return await self._deps.consents.granted(uow, user_id, self._calendars.google.consent)


class _FlowEnded(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _hashed(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _refused(problem: CalendarProblem, field: str) -> Unprocessable:
    return Unprocessable(
        f"the calendar could not be connected: {problem.message}",
        code=f"calendar_{problem.code}",
        items=[ItemProblem(field=field, problem=problem.message)],
    )
