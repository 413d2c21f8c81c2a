"""The same request twice is refused with the one it repeats, not made into a second grant."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import AccessRequest, Grant
from tests.catalog.grant_helpers import COMMUNITY, DECIDE, GRID, REQUEST, REVIEW, Hub, ask
from tests.support import data_of, error_codes

OFFICER, OWNER, CDO = "officer-emergency", "officer-public-security", "cdo"


async def _count(engine: AsyncEngine, model: type[AccessRequest] | type[Grant]) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_request_still_waiting_is_not_asked_twice(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    first = data_of(hub.call(OFFICER, REQUEST, {"input": ask()}))["requestAccess"]
    before = await _count(engine, AccessRequest)
    again = hub.call(OFFICER, REQUEST, {"input": ask(purpose="再次申请", durationDays=10)})
    assert error_codes(again) == ["BAD_USER_INPUT"]
    assert again["errors"][0]["extensions"]["duplicateOf"] == first["id"]
    assert await _count(engine, AccessRequest) == before
    # another area or other fields are another request
    other = hub.call(OFFICER, REQUEST, {"input": ask(area=GRID)})
    assert data_of(other)["requestAccess"]["state"] == "SUBMITTED"


async def test_what_an_active_grant_covers_is_not_granted_twice(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    asked = data_of(hub.call(OFFICER, REQUEST, {"input": ask()}))["requestAccess"]
    data_of(hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": True}))
    decided = data_of(hub.call(CDO, DECIDE, {"id": asked["id"], "approve": True}))
    grant = decided["decideAccessRequest"]["grant"]
    grants = await _count(engine, Grant)

    for repeat in (ask(), ask(area=GRID), ask(fields=["id", "phone"])):
        again = hub.call(OFFICER, REQUEST, {"input": repeat})
        assert error_codes(again) == ["BAD_USER_INPUT"], repeat
        assert again["errors"][0]["extensions"]["duplicateOf"] == grant["id"]
    assert await _count(engine, Grant) == grants
    # more than the grant holds is a request of its own
    wider = hub.call(OFFICER, REQUEST, {"input": ask(area=COMMUNITY[:9])})
    assert data_of(wider)["requestAccess"]["state"] == "SUBMITTED"
