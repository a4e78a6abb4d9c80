"""Google Calendar: OAuth's code flow with PKCE through Authlib, busy blocks through `freeBusy` with the
official client (`google-api-python-client`, its discovery document from the package, no fetch).

The only scope asked is `calendar.freebusy`: Google itself then gives busy times of the primary calendar
and nothing of what the events are. The API client is synchronous: each call runs on a worker thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import google_auth_httplib2
import httplib2
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from services.integrations.calendar.busy import Block, Window, merge
from services.integrations.calendar.reading import CalendarRefused, CalendarUnavailable
from services.integrations.calendar.settings import CalendarSettings
from services.integrations.service import ProviderTokens

PROVIDER = "google_calendar"
SCOPE = "https://www.googleapis.com/auth/calendar.freebusy"
RENEW_BEFORE = timedelta(minutes=5)  # an access token this close to its end is renewed before a read
RATE_LIMITED = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


class GoogleOAuthFailed(Exception):
    """The code exchange failed: `code` says why in a word (the person sees it), never Google's text."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Authorization:
    url: str
    code_verifier: str


class GoogleOAuth:
    """oO as an OAuth client of Google: the authorization URL, the code exchange, renewal and revocation."""

    def __init__(self, settings: CalendarSettings) -> None:
        self._settings = settings

    def _client(self, redirect_uri: str | None = None) -> AsyncOAuth2Client:
        secret = self._settings.google_client_secret
        return AsyncOAuth2Client(
            client_id=self._settings.google_client_id,
            client_secret=None if secret is None else secret.get_secret_value(),
            scope=SCOPE,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            timeout=self._settings.calendar_timeout_seconds,
        )

    def authorization(self, state: str, redirect_uri: str) -> Authorization:
        verifier = generate_token(64)
        url, _ = self._client(redirect_uri).create_authorization_url(
            self._settings.google_auth_url,
            state=state,
            code_verifier=verifier,
            access_type="offline",  # a refresh token, so oO reads without the person present
            prompt="consent",  # Google gives a refresh token only on a consent screen
            include_granted_scopes="true",
        )
        return Authorization(str(url), verifier)

    async def exchange(self, code: str, code_verifier: str, redirect_uri: str, now: datetime) -> ProviderTokens:
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(
                    self._settings.google_token_url, code=code, code_verifier=code_verifier
                )
        except OAuthError as error:
            raise GoogleOAuthFailed(_oauth_code(error.error)) from None
        except Exception:  # unreachable, not JSON: Google's text may quote the request, so none of it is kept
            raise GoogleOAuthFailed("google_unavailable") from None
        tokens = _tokens(token, now, previous_refresh=None)
        if SCOPE not in tokens.scopes:  # granular consent: the person may have unticked it
            raise GoogleOAuthFailed("scope_not_granted")
        return tokens

    async def renewed(
        self, tokens: ProviderTokens, now: datetime, before: timedelta | None = None
    ) -> ProviderTokens | None:
        """New tokens when the access token ends within `before` (RENEW_BEFORE when None) and a refresh
        token exists."""
        margin = RENEW_BEFORE if before is None else before
        if tokens.refresh_token is None or (tokens.expires_at is not None and tokens.expires_at - now > margin):
            return None
        try:
            async with self._client() as client:
                token = await client.refresh_token(self._settings.google_token_url, refresh_token=tokens.refresh_token)
        except OAuthError as error:
            if error.error in ("invalid_grant", "unauthorized_client"):
                raise CalendarRefused("unauthorized", "Google no longer honours oO's grant") from None
            raise CalendarUnavailable("google_unavailable", "Google did not renew the grant now") from None
        except Exception:
            raise CalendarUnavailable("unreachable", "Google cannot be reached") from None
        return _tokens(token, now, previous_refresh=tokens.refresh_token, previous_scopes=tokens.scopes)

    async def revoke(self, tokens: ProviderTokens) -> None:
        """Revoke the grant (the refresh token ends it whole); Google answers 200."""
        async with self._client() as client:
            response = await client.revoke_token(
                self._settings.google_revoke_url, token=tokens.refresh_token or tokens.access_token
            )
        response.raise_for_status()


def _oauth_code(error: str | None) -> str:
    known = {
        "invalid_grant": "bad_code",
        "invalid_client": "google_misconfigured",
        "unauthorized_client": "google_misconfigured",
    }
    return known.get(error or "", "google_refused")


def _tokens(
    token: dict[str, Any], now: datetime, *, previous_refresh: str | None, previous_scopes: tuple[str, ...] = ()
) -> ProviderTokens:
    expires_in = token.get("expires_in")
    scope = token.get("scope")
    refresh = token.get("refresh_token") or previous_refresh  # Google keeps the refresh token it gave once
    return ProviderTokens(
        access_token=str(token["access_token"]),
        refresh_token=None if refresh is None else str(refresh),
        expires_at=None if expires_in is None else now + timedelta(seconds=int(expires_in)),
        scopes=tuple(str(scope).split()) if scope else previous_scopes,
    )


@dataclass(frozen=True)
class GoogleFreeBusyReader:
    settings: CalendarSettings

    async def read(self, credentials: ProviderTokens, window: Window) -> list[Block]:
        answer = await asyncio.to_thread(self._query, credentials.access_token, window)
        calendar = answer.get("calendars", {}).get("primary", {})
        if calendar.get("errors"):
            raise CalendarUnavailable("google_unavailable", "Google did not give the calendar's busy times")
        try:
            blocks = [(_moment(busy["start"]), _moment(busy["end"])) for busy in calendar.get("busy", [])]
        except (KeyError, TypeError, ValueError):
            raise CalendarUnavailable("bad_answer", "Google answered with something unexpected") from None
        return merge(block for block in blocks if block[1] > block[0])

    def _query(self, access_token: str, window: Window) -> dict[str, Any]:
        http = google_auth_httplib2.AuthorizedHttp(
            Credentials(token=access_token),  # type: ignore[no-untyped-call]
            http=httplib2.Http(timeout=self.settings.calendar_timeout_seconds),
        )
        service = build(
            "calendar",
            "v3",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": self.settings.google_api_url.rstrip("/") + "/calendar/v3/"},
        )
        body = {
            "timeMin": window.start.astimezone(UTC).isoformat(),
            "timeMax": window.end.astimezone(UTC).isoformat(),
            "items": [{"id": "primary"}],
        }
        try:
            result: dict[str, Any] = service.freebusy().query(body=body).execute()
            return result
        except HttpError as error:
            raise _problem(error) from None
        except RefreshError:  # a 401: the client would renew, but renewal is oO's own step, before the read
            raise CalendarRefused("unauthorized", "Google refused oO's grant") from None
        except (OSError, httplib2.HttpLib2Error):  # refused, timed out
            raise CalendarUnavailable("unreachable", "Google cannot be reached") from None
        finally:
            service.close()


def _problem(error: HttpError) -> CalendarUnavailable | CalendarRefused:
    status = int(error.resp.status)
    reasons = {str(detail.get("reason")) for detail in (error.error_details or []) if isinstance(detail, dict)}
    if status == 401:
        return CalendarRefused("unauthorized", "Google refused oO's grant")
    if status == 429 or (status == 403 and reasons & RATE_LIMITED):
        return CalendarUnavailable("rate_limited", "Google asks oO to slow down")
    if status == 403:
        return CalendarRefused("forbidden", "Google does not let oO read this calendar")
    return CalendarUnavailable("google_unavailable", "Google could not answer now")


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a moment without an offset")
    return moment.astimezone(UTC)
