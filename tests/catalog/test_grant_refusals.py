"""Every way a step of the grant workflow is refused, through the HTTP server: the wrong role,
one's own request (of one's own making, of one's own department), a resource that is not
shared, a decision that widens the request, bad inputs, a step out of turn. A refused step
writes nothing. And who may list which requests and grants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.catalog.grant_helpers import (
    DECIDE,
    GRID,
    REQUEST,
    REVIEW,
    REVOKE,
    Hub,
    add_person,
    ask,
    counts,
)
from tests.support import data_of, error_codes

OFFICER, OWNER, CDO = "officer-emergency", "officer-public-security", "cdo"


def _asked(hub: Hub, subject: str = OFFICER, **changes: Any) -> dict[str, Any]:
    return data_of(hub.call(subject, REQUEST, {"input": ask(**changes)}))["requestAccess"]


def _approved(hub: Hub, **changes: Any) -> dict[str, Any]:
    asked = _asked(hub, **changes)
    data_of(hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": True}))
    return asked


async def _refused(
    hub: Hub, engine: AsyncEngine, code: str, subject: str, query: str, variables: Any
) -> dict[str, Any]:
    """Run a step that must be refused with ``code``; check it wrote nothing."""
    before = await counts(engine)
    body = hub.call(subject, query, variables)
    assert error_codes(body) == [code], body
    assert body["data"] is None
    assert await counts(engine) == before
    return dict(body["errors"][0])


# -- the wrong role --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "step"),
    [
        ("worker-440306001001001", "request"),
        ("emergency-app", "request"),
        (CDO, "review"),
        ("officer-housing", "decide"),
        ("auditor-01", "decide"),
        (OWNER, "revoke"),
    ],
)
async def test_a_step_needs_its_role(
    hub: Hub, engine: AsyncEngine, forget: list[str], subject: str, step: str
) -> None:
    asked = _approved(hub)
    query, variables = {
        "request": (REQUEST, {"input": ask()}),
        "review": (REVIEW, {"id": asked["id"], "approve": True}),
        "decide": (DECIDE, {"id": asked["id"], "approve": True}),
        "revoke": (REVOKE, {"id": "grant:1", "reason": "test"}),
    }[step]
    error = await _refused(hub, engine, "FORBIDDEN", subject, query, variables)
    assert "role" in error["message"]


@pytest.mark.parametrize(
    "query", ["{ accessRequests { id } }", "{ grants { id } }"], ids=["requests", "grants"]
)
@pytest.mark.parametrize("subject", ["worker-440306001001001", "housing-app"])
def test_listing_needs_a_duty(hub: Hub, subject: str, query: str) -> None:
    assert error_codes(hub.call(subject, query)) == ["FORBIDDEN"]


# -- separation of duties ----------------------------------------------------------------------


async def test_nobody_reviews_their_own_request(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    asked = _asked(hub)
    error = await _refused(
        hub, engine, "FORBIDDEN", OFFICER, REVIEW, {"id": asked["id"], "approve": True}
    )
    assert "your own request" in error["message"]


async def test_nobody_reviews_a_request_of_their_own_department(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    await add_person(engine, forget, "test-officer-emergency-2", "emergency", "data_officer")
    asked = _asked(hub)
    error = await _refused(
        hub,
        engine,
        "FORBIDDEN",
        "test-officer-emergency-2",
        REVIEW,
        {"id": asked["id"], "approve": True},
    )
    assert "your own department" in error["message"]


async def test_only_the_owners_data_officer_reviews(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    asked = _asked(hub)
    error = await _refused(
        hub, engine, "FORBIDDEN", "officer-housing", REVIEW, {"id": asked["id"], "approve": True}
    )
    assert "public_security" in error["message"]


async def test_the_chief_data_officer_does_not_decide_for_their_own_department(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    await add_person(engine, forget, "test-cdo-emergency", "emergency", "chief_data_officer")
    asked = _approved(hub)
    error = await _refused(
        hub, engine, "FORBIDDEN", "test-cdo-emergency", DECIDE, {"id": asked["id"], "approve": True}
    )
    assert "your own department" in error["message"]


async def test_nobody_decides_their_own_request(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    both = "test-officer-and-cdo"
    await add_person(engine, forget, both, "emergency", "data_officer", "chief_data_officer")
    asked = _asked(hub, both)
    data_of(hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": True}))
    error = await _refused(
        hub, engine, "FORBIDDEN", both, DECIDE, {"id": asked["id"], "approve": True}
    )
    assert "your own request" in error["message"]


# -- what may be asked and granted -------------------------------------------------------------


async def test_a_resource_that_is_not_shared_is_refused_with_its_legal_basis(
    hub: Hub, engine: AsyncEngine
) -> None:
    error = await _refused(
        hub,
        engine,
        "FORBIDDEN",
        OFFICER,
        REQUEST,
        {"input": ask(resource="RK-ZD-005", fields=["careTags"])},
    )
    assert "数据安全法" in error["extensions"]["reason"]
    assert error["extensions"]["resource"] == "RK-ZD-005"


FAR = (datetime.now(UTC) + timedelta(days=40)).isoformat()
SOON = (datetime.now(UTC) + timedelta(days=3)).isoformat()
PAST = (datetime.now(UTC) - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("widening", "problem"),
    [
        ({"fields": ["id", "phone", "idNumber"]}, "not asked for"),
        ({"fields": []}, "at least one field"),
        ({"area": "440306001"}, "not within the area"),
        ({"area": "440306002001001"}, "not within the area"),
        ({"expiresAt": FAR}, "days asked for"),
        ({"expiresAt": PAST}, "in the past"),
        ({"area": "440306999"}, "not an area of the district"),
    ],
    ids=["field", "no-field", "street", "other-grid", "later", "past", "no-such-area"],
)
async def test_a_decision_never_widens(
    hub: Hub, engine: AsyncEngine, forget: list[str], widening: dict[str, Any], problem: str
) -> None:
    asked = _approved(hub)
    variables = {"id": asked["id"], "approve": True, **widening}
    error = await _refused(hub, engine, "BAD_USER_INPUT", CDO, DECIDE, variables)
    assert any(problem in p for p in error["extensions"]["problems"]), error
    # Still waiting for a decision: a narrower one goes through.
    narrower = {"id": asked["id"], "approve": True, "area": GRID, "expiresAt": SOON}
    grant = data_of(hub.call(CDO, DECIDE, narrower))["decideAccessRequest"]["grant"]
    assert (grant["area"], grant["fields"]) == (GRID, ["id", "name", "phone"])
    assert datetime.fromisoformat(grant["expiresAt"]) == datetime.fromisoformat(SOON)


BAD_ASKS = {
    "unknown field": (ask(fields=["id", "idNumber"]), "has no field `idNumber`"),
    "no field": (ask(fields=[]), "at least one field"),
    "twice": (ask(fields=["phone", "phone"]), "twice"),
    "outside the district": (ask(area="440307001"), "not an area of the district"),
    "too long": (ask(durationDays=366), "from 1 to 365"),
    "no time": (ask(durationDays=0), "from 1 to 365"),
    "purpose code": (ask(purposeCode="Emergency Contact"), "not a purpose code"),
    "any purpose": (ask(purposeCode="*"), "not a purpose code"),
    "no purpose": (ask(purpose="  "), "what the data is for"),
    "masked withheld": (ask(resource="RK-SF-002", fields=["birthDate"], masked=True), "no masked"),
}


@pytest.mark.parametrize("case", BAD_ASKS, ids=list(BAD_ASKS))
async def test_a_bad_request_writes_nothing(hub: Hub, engine: AsyncEngine, case: str) -> None:
    given, problem = BAD_ASKS[case]
    error = await _refused(hub, engine, "BAD_USER_INPUT", OFFICER, REQUEST, {"input": given})
    assert any(problem in p for p in error["extensions"]["problems"]), error


async def test_an_unknown_resource_is_bad_input(hub: Hub, engine: AsyncEngine) -> None:
    given = {"input": ask(resource="XX-YY-001")}
    await _refused(hub, engine, "BAD_USER_INPUT", OFFICER, REQUEST, given)


@pytest.mark.parametrize("key", ["12", "grant:3", "request:x", "request:999999"])
async def test_an_unknown_request_is_bad_input(hub: Hub, engine: AsyncEngine, key: str) -> None:
    await _refused(hub, engine, "BAD_USER_INPUT", OWNER, REVIEW, {"id": key, "approve": True})


# -- steps out of turn, rejections ---------------------------------------------------------------


async def test_steps_happen_once_and_in_turn(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    asked = _asked(hub)
    early = {"id": asked["id"], "approve": True}
    error = await _refused(hub, engine, "BAD_USER_INPUT", CDO, DECIDE, early)
    assert error["extensions"]["state"] == "SUBMITTED"
    data_of(hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": True}))
    await _refused(
        hub, engine, "BAD_USER_INPUT", OWNER, REVIEW, {"id": asked["id"], "approve": True}
    )
    grant = data_of(hub.call(CDO, DECIDE, early))["decideAccessRequest"]["grant"]
    await _refused(hub, engine, "BAD_USER_INPUT", CDO, DECIDE, early)
    data_of(hub.call(CDO, REVOKE, {"id": grant["id"], "reason": "不再需要"}))
    error = await _refused(
        hub, engine, "BAD_USER_INPUT", CDO, REVOKE, {"id": grant["id"], "reason": "x"}
    )
    assert error["extensions"]["state"] == "REVOKED"
    await _refused(
        hub, engine, "BAD_USER_INPUT", CDO, REVOKE, {"id": "grant:999999", "reason": "x"}
    )


async def test_rejections_say_why_and_grant_nothing(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    asked = _asked(hub)
    await _refused(
        hub, engine, "BAD_USER_INPUT", OWNER, REVIEW, {"id": asked["id"], "approve": False}
    )
    before = await counts(engine)
    rejected = data_of(
        hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": False, "comment": "用途不符"})
    )["reviewAccessRequest"]
    assert (rejected["state"], rejected["reviewComment"], rejected["grant"]) == (
        "REJECTED",
        "用途不符",
        None,
    )
    assert (await counts(engine))[1:] == before[1:]  # no grant, no rule

    other = _approved(hub)
    await _refused(
        hub,
        engine,
        "BAD_USER_INPUT",
        CDO,
        DECIDE,
        {"id": other["id"], "approve": False, "comment": "否", "area": GRID},
    )
    decided = data_of(
        hub.call(CDO, DECIDE, {"id": other["id"], "approve": False, "comment": "无必要"})
    )["decideAccessRequest"]
    assert (decided["state"], decided["decidedBy"], decided["grant"]) == ("REJECTED", CDO, None)


async def test_the_owner_asking_skips_the_review(hub: Hub, forget: list[str]) -> None:
    """Civil affairs asks for its own resource: nobody of civil affairs may review it, and
    the owner is the one asking; it waits for the chief data officer."""
    asked = _asked(
        hub,
        "officer-civil-affairs",
        resource="MZ-GL-002",
        fields=["id", "birthDate"],
        # not elderly_care: the demo's own grant for that covers these fields already
        purposeCode="birthday_visits",
    )
    assert (asked["state"], asked["reviewedBy"], asked["owner"]) == (
        "OWNER_APPROVED",
        None,
        "civil_affairs",
    )
    decided = data_of(hub.call(CDO, DECIDE, {"id": asked["id"], "approve": True}))
    assert decided["decideAccessRequest"]["state"] == "GRANTED"


# -- who sees which ------------------------------------------------------------------------------

LIST = """query($filter: AccessRequestFilter) { accessRequests(filter: $filter) {
    id department owner state } }"""
GRANTS = "query($filter: GrantFilter) { grants(filter: $filter) { id department resourceCode } }"


async def test_who_sees_which_requests_and_grants(hub: Hub, forget: list[str]) -> None:
    asked = _asked(hub)  # emergency asks public security
    mine = {"filter": {"state": "SUBMITTED"}}
    for subject in (OFFICER, OWNER, CDO, "auditor-01"):
        found = data_of(hub.call(subject, LIST, mine))["accessRequests"]
        assert asked["id"] in {r["id"] for r in found}, subject
    housing = data_of(hub.call("officer-housing", LIST))["accessRequests"]
    assert asked["id"] not in {r["id"] for r in housing}
    assert housing
    assert all("housing" in (r["department"], r["owner"]) for r in housing)

    every = data_of(hub.call(CDO, GRANTS))["grants"]
    theirs = data_of(hub.call("officer-housing", GRANTS))["grants"]
    assert {g["department"] for g in every} >= {"housing", "emergency", "civil_affairs"}
    assert theirs
    assert {g["id"] for g in theirs} < {g["id"] for g in every}
    filtered = data_of(
        hub.call(CDO, GRANTS, {"filter": {"department": "emergency", "resource": "SJ-SB-003"}})
    )["grants"]
    assert [(g["department"], g["resourceCode"]) for g in filtered] == [("emergency", "SJ-SB-003")]
    assert error_codes(hub.call(CDO, GRANTS, {"filter": {"department": "nowhere"}})) == [
        "BAD_USER_INPUT"
    ]


# -- all or nothing --------------------------------------------------------------------------


async def test_a_grant_whose_rules_fail_leaves_the_request_waiting(
    hub: Hub, engine: AsyncEngine, forget: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state change, the grant's row and its rules are one transaction."""
    from policies.store import PolicyStore

    asked = _approved(hub)
    before = await counts(engine)

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the policy store is down")

    monkeypatch.setattr(PolicyStore, "put_grant", broken)
    response = hub.client.post(
        "/graphql",
        json={"query": DECIDE, "variables": {"id": asked["id"], "approve": True}},
        headers={"authorization": f"Bearer {hub.token_for(CDO)}"},
    )
    assert error_codes(response.json()) == ["INTERNAL_SERVER_ERROR"]
    assert await counts(engine) == before
    monkeypatch.undo()
    state = data_of(hub.call(CDO, LIST, {"filter": {"state": "OWNER_APPROVED"}}))
    assert asked["id"] in {r["id"] for r in state["accessRequests"]}


async def test_concurrent_deciders_grant_once(
    hub: Hub, engine: AsyncEngine, forget: list[str]
) -> None:
    """Four decisions of one request at once: one grants, the others are told, none is a
    server error, and there is one grant."""
    from concurrent.futures import ThreadPoolExecutor

    asked = _approved(hub)
    before = await counts(engine)
    variables = {"id": asked["id"], "approve": True}
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: hub.call(CDO, DECIDE, variables), range(4)))
    assert sum("errors" not in body for body in bodies) == 1
    assert all(error_codes(b) == ["BAD_USER_INPUT"] for b in bodies if "errors" in b)
    assert (await counts(engine))[1] == before[1] + 1
