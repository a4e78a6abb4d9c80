"""The Python SDK against the real app: the same journey a script takes, and its retries when the way
to the app fails."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from oo_contracts.events import Reaction, ReactionReason
from oo_contracts.recommendation import RecommendRequest
from oo_sdk import MAX_ATTEMPTS, OoApiError, OoClient, OoRetriesExhausted
from oo_sdk.client import BACKOFF_SECONDS
from tests.conftest import LOOPBACK, new_user_with_token
from tests.events_factory import checkin


async def test_sdk_posts_exports_and_deletes(app, container):
    _, token = await new_user_with_token(container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with OoClient(LOOPBACK, token, transport=transport) as oo:
        events = [checkin(), checkin(1, 1)]
        result = await oo.post_events(events)
        assert {str(i) for i in result.stored} == {e["id"] for e in events}
        export = await oo.export()
        assert {str(e.id) for e in export.events.events} >= {e["id"] for e in events}
        receipt = await oo.delete_account()
        assert await oo.deletion_status(receipt) == "completed"
        with pytest.raises(OoApiError) as raised:
            await oo.me()
    assert raised.value.status_code == 401
    assert raised.value.error is not None
    assert raised.value.error.error.code == "unauthenticated"


async def test_sdk_asks_for_a_tip_reacts_and_reads_settings(app, container):
    _, token = await new_user_with_token(container)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with OoClient(LOOPBACK, token, transport=transport) as oo:
        first = await oo.recommend(RecommendRequest(timezone="Europe/Berlin"))
        assert first.tip is not None
        assert first.tip.prompt == "checkin"
        answered = await oo.feedback(first.decision_id, Reaction.later, ReactionReason.busy)
        assert answered is not None
        assert (answered.reaction, answered.learned) == ("later", False)
        with pytest.raises(OoApiError) as twice:
            await oo.feedback(first.decision_id, Reaction.done)
        assert twice.value.status_code == 409
        assert (await oo.settings()).timezone == "Europe/Berlin"


# ---- retries ----------------------------------------------------------------------------------


@dataclass
class Busy:
    """A 503 answered in the app's place, as a proxy or an overloaded server would."""

    retry_after: str | None = None


REFUSED = "refused"  # the connection fails: the request never reaches the app
LOST = "lost"  # the app handles the request, and its answer is lost on the way back


@dataclass
class Scripted(httpx.AsyncBaseTransport):
    """The real app over ASGI, with the first requests' fates scripted (a `Busy`, `REFUSED` or `LOST`);
    the requests after the script reach the app as usual. `seen` lists every request as it came."""

    inner: httpx.ASGITransport
    fates: list[Busy | str]
    seen: list[str] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        fate = self.fates.pop(0) if self.fates else None
        if fate == REFUSED:
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(fate, Busy):
            headers = {"Retry-After": fate.retry_after} if fate.retry_after else {}
            body = {"error": {"code": "storage_unavailable", "message": "storage is unavailable; retry shortly"}}
            return httpx.Response(503, headers=headers, json=body)
        response = await self.inner.handle_async_request(request)
        if fate == LOST:
            await response.aread()
            raise httpx.ReadError("connection reset", request=request)
        return response


def scripted_client(app, token: str, *fates: Busy | str) -> tuple[OoClient, Scripted, list[float]]:
    """A client through a `Scripted` transport; its waits between tries are recorded, not slept."""
    transport = Scripted(httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)), list(fates))
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    return OoClient(LOOPBACK, token, transport=transport, sleep=record), transport, waits


async def test_a_503_is_retried_after_the_retry_after_it_gives(app, container):
    _, token = await new_user_with_token(container)
    oo, transport, waits = scripted_client(app, token, Busy(retry_after="2"))
    async with oo:
        event = checkin()
        result = await oo.post_events([event])
        export = await oo.export()
    assert [str(i) for i in result.stored] == [event["id"]]
    assert transport.seen == ["POST /v1/events", "POST /v1/events", "GET /v1/me/export"]
    assert waits == [2.0]
    assert [str(e.id) for e in export.events.events].count(event["id"]) == 1


async def test_retry_after_as_a_date_is_waited_until(app, container):
    _, token = await new_user_with_token(container)
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    oo, _, waits = scripted_client(app, token, Busy(retry_after=later))
    async with oo:
        await oo.settings()
    assert len(waits) == 1
    assert 60 < waits[0] <= 90, waits  # an HTTP date has whole seconds


async def test_without_retry_after_each_wait_is_a_random_share_of_a_doubling_window(app, container):
    _, token = await new_user_with_token(container)
    oo, transport, waits = scripted_client(app, token, Busy(), REFUSED, Busy())
    async with oo:
        await oo.me()
    assert len(transport.seen) == 4
    windows = [BACKOFF_SECONDS * 2**n for n in range(3)]
    assert all(0 <= wait <= window for wait, window in zip(waits, windows, strict=True)), (waits, windows)


async def test_a_request_still_failing_at_its_last_try_gives_up_with_the_reason(app, container):
    _, token = await new_user_with_token(container)
    oo, transport, waits = scripted_client(app, token, *[Busy()] * MAX_ATTEMPTS)
    async with oo:
        event = checkin()
        with pytest.raises(OoRetriesExhausted) as gave_up:
            await oo.post_events([event])
        assert event["id"] not in {str(e.id) for e in (await oo.export()).events.events}  # it never got through
    assert transport.seen.count("POST /v1/events") == MAX_ATTEMPTS
    assert len(waits) == MAX_ATTEMPTS - 1
    assert gave_up.value.attempts == MAX_ATTEMPTS
    assert isinstance(gave_up.value.last, OoApiError)
    assert gave_up.value.last.status_code == 503
    assert gave_up.value.__cause__ is gave_up.value.last
    assert str(gave_up.value).startswith(f"POST /v1/events failed {MAX_ATTEMPTS} times; the last: ")


async def test_an_event_whose_answer_was_lost_is_stored_once(app, container):
    _, token = await new_user_with_token(container)
    oo, transport, _ = scripted_client(app, token, LOST)
    async with oo:
        event = checkin()
        result = await oo.post_events([event])
        export = await oo.export()
    assert transport.seen[:2] == ["POST /v1/events", "POST /v1/events"]
    assert ([str(i) for i in result.already_known], result.stored) == ([event["id"]], [])
    assert [str(e.id) for e in export.events.events].count(event["id"]) == 1


async def test_a_reaction_whose_answer_was_lost_counts_as_delivered(app, container):
    _, token = await new_user_with_token(container)
    oo, transport, _ = scripted_client(app, token)
    async with oo:
        first = await oo.recommend()
        transport.fates.append(LOST)
        assert await oo.feedback(first.decision_id, Reaction.done) is None  # the retry met its own reaction
        with pytest.raises(OoApiError) as again:  # a second reaction of the caller's own is still a 409
            await oo.feedback(first.decision_id, Reaction.later)
        decisions = (await oo.export()).recommender.decisions
    assert transport.seen.count("POST /v1/feedback") == 3
    assert again.value.code == "already_reacted"
    assert [(d.decision_id, d.reaction) for d in decisions if d.reaction] == [(first.decision_id, "done")]


async def test_a_4xx_and_a_deletion_are_sent_once(app, container):
    _, token = await new_user_with_token(container)
    oo, transport, waits = scripted_client(app, token)
    async with oo:
        with pytest.raises(OoApiError) as unknown:
            await oo.feedback(uuid.uuid4(), Reaction.done)
        transport.fates.append(Busy(retry_after="1"))
        with pytest.raises(OoApiError) as busy:
            await oo.delete_account()
    assert (unknown.value.status_code, busy.value.status_code) == (404, 503)
    assert transport.seen == ["POST /v1/feedback", "DELETE /v1/me"]
    assert waits == []
