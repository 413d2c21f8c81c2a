"""The grant workflow through the HTTP server, as its users drive it: a department app can not
read a resource; its data officer asks; the owner's data officer approves; the chief data
officer grants less than asked; the app reads exactly that, and its audit entry names the
grant; the grant is revoked, or runs out, and the app can not read it any more — without a
restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from demo import District
from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from resolvers.ids import from_global_id, to_global_id
from store.models import AuditEntry, CasbinRule, Grant
from tests.catalog.grant_helpers import (
    COMMUNITY,
    DECIDE,
    GRID,
    REQUEST,
    REVIEW,
    REVOKE,
    STREET,
    Clock,
    Hub,
    ask,
)
from tests.support import data_of, error_codes, nodes

APP, OFFICER, OWNER, CDO = "emergency-app", "officer-emergency", "officer-public-security", "cdo"
PHONES = "{ people(first: 500) { totalCount edges { node { id phone name } } } }"
PURPOSE = "emergency_contact"


async def entry_of(engine: AsyncEngine, response: Any) -> Any:
    async with engine.connect() as connection:
        return (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["x-request-id"])
            )
        ).one()


async def lines_of(engine: AsyncEngine, role: str) -> list[tuple[str | None, ...]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(CasbinRule.ptype, CasbinRule.v0, CasbinRule.v1, CasbinRule.v2).where(
                (CasbinRule.v0 == role) | (CasbinRule.v1 == role)
            )
        )
        return [tuple(row) for row in rows]


def _people_in(district: District, area: str) -> dict[str, dict[str, Any]]:
    return {
        to_global_id("Person", p["id"]): p
        for p in district.people
        if p["grid_code"].startswith(area)
    }


async def test_ask_review_narrow_read_audit_revoke(
    hub: Hub, engine: AsyncEngine, district: District, forget: list[str]
) -> None:
    # The emergency app sees no people at all.
    before = data_of(hub.call(APP, PHONES, purpose=PURPOSE))
    assert before["people"]["totalCount"] == 0

    asked = data_of(hub.call(OFFICER, REQUEST, {"input": ask()}))["requestAccess"]
    assert asked["state"] == "SUBMITTED"
    assert (asked["owner"], asked["department"], asked["requestedBy"]) == (
        "public_security",
        "emergency",
        OFFICER,
    )
    assert asked["grant"] is None

    reviewed = data_of(
        hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": True, "comment": "同意"})
    )["reviewAccessRequest"]
    assert (reviewed["state"], reviewed["reviewedBy"]) == ("OWNER_APPROVED", OWNER)

    # The chief data officer grants one grid of the community, and the phones without names.
    narrower = {"id": asked["id"], "approve": True, "area": GRID, "fields": ["id", "phone"]}
    decision = hub.post(CDO, DECIDE, narrower)
    decided = data_of(decision.json())["decideAccessRequest"]
    step = await entry_of(engine, decision)  # every step is an audit entry, with its variables
    assert (step.subject, step.operation_type, step.operation_name) == (CDO, "mutation", "Decide")
    assert step.variables == narrower
    grant = decided["grant"]
    assert decided["state"] == "GRANTED"
    assert decided["decidedBy"] == CDO
    assert (grant["state"], grant["area"], grant["fields"]) == ("ACTIVE", GRID, ["id", "phone"])
    assert grant["roles"] == ["emergency_app"]

    # Exactly those fields, exactly in that grid.
    response = hub.post(APP, PHONES, purpose=PURPOSE)
    body = response.json()
    seen = nodes(body["data"]["people"])
    expected = _people_in(district, GRID)
    assert body["data"]["people"]["totalCount"] == len(expected) > 0
    assert {p["id"] for p in seen} == set(expected)
    assert all(p["phone"] == expected[p["id"]]["phone"] for p in seen)
    assert all(p["name"] is None for p in seen)
    assert set(error_codes(body)) == {"FORBIDDEN"}  # the names, not granted
    # Nothing of the rest of the community, which was asked for but not granted.
    elsewhere = next(
        p
        for p in district.people
        if p["grid_code"].startswith(COMMUNITY) and p["grid_code"] != GRID
    )
    lookup = "query($id: ID!) { person(id: $id) { id phone } }"
    outside = hub.call(
        APP, lookup, {"id": to_global_id("Person", elsewhere["id"])}, purpose=PURPOSE
    )
    assert data_of(outside) == {"person": None}
    # Without the purpose the grant serves, the phones are not served.
    assert "PURPOSE_REQUIRED" in error_codes(hub.call(APP, PHONES))

    # The audit entry of the read names the grant (by its id, not a rule).
    entry = await entry_of(engine, response)
    assert grant["id"] in entry.grant_ids
    assert entry.subject == APP
    assert entry.purpose == PURPOSE
    assert {str(from_global_id(p["id"])[1]) for p in seen} == set(entry.person_ids)

    revoked = data_of(hub.call(CDO, REVOKE, {"id": grant["id"], "reason": "台风已过境"}))
    assert revoked["revokeGrant"]["state"] == "REVOKED"
    assert revoked["revokeGrant"]["endedBy"] == CDO
    assert await lines_of(engine, grant["id"]) == []

    after = data_of(hub.call(APP, PHONES, purpose=PURPOSE))
    assert after["people"]["totalCount"] == 0


HOUSES = "{ houses(first: 1) { totalCount edges { node { code address } } } }"


async def test_unconditional_is_granted_at_once_and_expires_on_time(
    hub: Hub, engine: AsyncEngine, district: District, forget: list[str]
) -> None:
    assert data_of(hub.call("civil-affairs-app", HOUSES))["houses"]["totalCount"] == 0
    asked = data_of(
        hub.call(
            "officer-civil-affairs",
            REQUEST,
            {
                "input": ask(
                    resource="FW-JC-001",
                    fields=["code", "address"],
                    area=STREET,
                    purposeCode="elderly_care",
                    durationDays=1,
                )
            },
        )
    )["requestAccess"]
    assert asked["state"] == "GRANTED"
    assert (asked["reviewedBy"], asked["decidedBy"]) == (None, None)
    grant = asked["grant"]
    houses = sum(1 for h in district.houses if h["grid_code"].startswith(STREET))
    assert data_of(hub.call("civil-affairs-app", HOUSES))["houses"]["totalCount"] == houses

    # A day and a second later the same server, not restarted and before any sweep, serves
    # nothing: the cached plan is not used past the grant's expiry.
    hub.clock.offset = timedelta(days=1, seconds=1)
    try:
        assert data_of(hub.call("civil-affairs-app", HOUSES))["houses"]["totalCount"] == 0
        assert len(await lines_of(engine, grant["id"])) == 3  # p, p2, g: not swept yet

        ended = hub.client.portal.call(services(hub.client.app).grant_sweep.sweep)
    finally:
        hub.clock.offset = timedelta()
    assert [g.key for g in ended] == [grant["id"]]
    assert await lines_of(engine, grant["id"]) == []
    async with engine.connect() as connection:
        row = (await connection.execute(select(Grant).where(Grant.id == ended[0].id))).one()
        entries = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.operation_name == "expireGrant")
            )
        ).all()
    assert (row.state, row.ended_by) == ("expired", None)
    assert [e.grant_ids for e in entries if grant["id"] in e.grant_ids] == [[grant["id"]]]
    assert data_of(hub.call("civil-affairs-app", HOUSES))["houses"]["totalCount"] == 0


async def test_an_entry_names_the_grants_that_cover_what_was_read(
    hub: Hub, engine: AsyncEngine
) -> None:
    """The civil affairs app holds grants on six resources (twice: two purposes); reading
    names only, the entry names the grants covering names, not those of ID numbers."""
    grants = data_of(
        hub.call(
            "cdo",
            '{ grants(filter: {department: "civil_affairs", state: ACTIVE}) '
            "{ id policyResource fields } }",
        )
    )["grants"]
    response = hub.post("civil-affairs-app", "{ people(first: 2) { edges { node { name } } } }")
    named = set((await entry_of(engine, response)).grant_ids)
    # People's names only: another test may have granted the department entities' `name`.
    covering = {
        g["id"] for g in grants if g["policyResource"] == "people" and "name" in g["fields"]
    }
    assert covering
    assert named == covering
    assert all(key.startswith("grant:") for key in named)


async def test_the_servers_own_sweep_ends_grants_on_its_round(
    hub: Hub, engine: AsyncEngine, settings: Settings, forget: list[str]
) -> None:
    """Started in the lifespan, the sweep needs no call: a grant a day old is expired."""
    given = ask(resource="FW-JC-001", fields=["code"], purposeCode="elderly_care", durationDays=1)
    asked = data_of(hub.call("officer-civil-affairs", REQUEST, {"input": given}))
    key = asked["requestAccess"]["grant"]["id"]
    later = Clock(timedelta(days=2))
    often = settings.model_copy(update={"grant_sweep_seconds": 0.05})
    with TestClient(create_app(often, later)):
        for _ in range(200):
            if await lines_of(engine, key) == []:
                break
            await asyncio.sleep(0.05)
    async with engine.connect() as connection:
        state = await connection.scalar(select(Grant.state).where(Grant.id == int(key[6:])))
    assert state == "expired"
