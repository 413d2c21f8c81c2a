"""``me`` tells an app what it holds: its live grants, and the purposes that unlock each
purpose-bound field; a purpose it does not hold is named as unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.conftest import GraphQL
from tests.support import data_of

ME = """{ me { purpose unknownPurpose
    grants { id resourceCode policyResource fields area masked purposeCode expiresAt state }
    access { resource fields { area type field decision purposes } } } }"""


def _people_fields(me: dict[str, Any]) -> dict[str, dict[str, Any]]:
    people = next(a for a in me["access"] if a["resource"] == "people")
    return {f["field"]: f for f in people["fields"] if f["type"] == "Person"}


async def test_me_lists_the_apps_live_grants(gql: GraphQL) -> None:
    me = data_of(await gql(ME, as_="civil-affairs-app"))["me"]
    grants = me["grants"]
    assert grants
    assert all(g["id"].startswith("grant:") and g["state"] == "ACTIVE" for g in grants)
    # the demo's grants of the app are on people (a test elsewhere may add one of its own)
    assert "people" in {g["policyResource"] for g in grants}
    assert all(datetime.fromisoformat(g["expiresAt"]) > datetime.now(UTC) for g in grants)
    assert {"elderly_care", "social_assistance"} <= {g["purposeCode"] for g in grants}
    for_care = [g for g in grants if g["purposeCode"] == "elderly_care"]
    assert "idNumber" in {field for g in for_care for field in g["fields"]}
    assert all(g["area"] is None for g in for_care)  # the whole district


async def test_a_person_without_grants_lists_none(gql: GraphQL) -> None:
    me = data_of(await gql(ME, as_="worker-440306001001001"))["me"]
    assert me["grants"] == []
    assert me["unknownPurpose"] is None


async def test_every_purpose_bound_field_names_the_purposes_that_unlock_it(gql: GraphQL) -> None:
    fields = _people_fields(data_of(await gql(ME, as_="civil-affairs-app"))["me"])
    required = {name: f for name, f in fields.items() if f["decision"] == "PURPOSE_REQUIRED"}
    assert {"idNumber", "phone", "birthDate", "careTags"} <= set(required)
    for name, field in required.items():
        assert field["purposes"], name
    assert set(required["idNumber"]["purposes"]) == {"elderly_care", "social_assistance"}
    assert fields["name"]["decision"] == "ALLOW"
    assert fields["name"]["purposes"] == []  # a public field needs no purpose

    unlocked = _people_fields(
        data_of(await gql(ME, as_="civil-affairs-app", purpose="elderly_care"))["me"]
    )
    assert unlocked["idNumber"]["decision"] == "ALLOW"
    assert "elderly_care" in unlocked["idNumber"]["purposes"]


async def test_an_unknown_purpose_is_named_as_unknown(gql: GraphQL) -> None:
    typo = data_of(await gql(ME, as_="civil-affairs-app", purpose="eldery_care"))["me"]
    assert typo["purpose"] == "eldery_care"
    assert typo["unknownPurpose"] == "eldery_care"
    assert _people_fields(typo)["idNumber"]["decision"] == "PURPOSE_REQUIRED"

    # Another department's purpose unlocks nothing for this app either.
    other = data_of(await gql(ME, as_="civil-affairs-app", purpose="case_handling"))["me"]
    assert other["unknownPurpose"] == "case_handling"

    known = data_of(await gql(ME, as_="civil-affairs-app", purpose="elderly_care"))["me"]
    assert known["unknownPurpose"] is None
