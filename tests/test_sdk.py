"""The Python SDK against the real app: the same journey a script takes."""

from __future__ import annotations

import httpx
import pytest

from oo_contracts.events import Reaction, ReactionReason
from oo_contracts.recommendation import RecommendRequest
from oo_sdk import OoApiError, OoClient
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
        assert (answered.reaction, answered.learned) == ("later", False)
        with pytest.raises(OoApiError) as twice:
            await oo.feedback(first.decision_id, Reaction.done)
        assert twice.value.status_code == 409
        assert (await oo.settings()).timezone == "Europe/Berlin"
