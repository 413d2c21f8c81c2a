"""Persisted operations: an app locked down to its registered documents runs them by hash and
nothing else; other apps are unaffected; the list is kept with `gridhub operations`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli
from hub.app import create_app
from hub.operations import sha256_of
from hub.settings import Settings
from tests.audit.test_request_entries import only_entry
from tests.support import data_of, error_codes

runner = CliRunner()
LOCKED = "housing-app"
OTHER = "emergency-app"
HOUSES = """query HousingHouses($area: String!) {
  houses(filter: {areaCode: $area}, first: 3) { totalCount edges { node { code address } } }
}
"""
AD_HOC = '{ houses(filter: {areaCode: "440306"}, first: 1) { totalCount } }'


def operations(*arguments: str) -> Any:
    return runner.invoke(cli, ["operations", *arguments])


@pytest.fixture(scope="module")
def registered(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HOUSES registered for the locked app through the CLI; its hash. Removed afterwards."""
    path = tmp_path_factory.mktemp("ops") / "houses.graphql"
    path.write_text(HOUSES, encoding="utf-8")
    added = operations("add", "--client", LOCKED, str(path), "--database-url", database_url)
    assert added.exit_code == 0, added.output
    sha = sha256_of(HOUSES)
    assert added.stdout.split()[:2] == [sha, "HousingHouses"]
    yield sha
    operations("remove", "--client", LOCKED, sha, "--database-url", database_url)


@pytest.fixture(scope="module")
def hub(settings: Settings, registered: str) -> Iterator[TestClient]:
    locked = settings.model_copy(update={"persisted_only": [LOCKED]})
    with TestClient(create_app(locked)) as client:
        yield client


def as_(token_for: Callable[[str], str], subject: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token_for(subject)}"}


def by_hash(sha: str, **more: Any) -> dict[str, Any]:
    return {
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}},
        "variables": {"area": "440306001"},
        **more,
    }


def test_a_locked_app_runs_its_persisted_operation_by_hash(
    hub: TestClient, registered: str, token_for: Callable[[str], str]
) -> None:
    headers = as_(token_for, LOCKED)
    apollo = hub.post("/graphql", json=by_hash(registered), headers=headers)
    assert data_of(apollo.json())["houses"]["totalCount"] > 0
    document_id = hub.post(
        "/graphql",
        json={"documentId": f"sha256:{registered}", "variables": {"area": "440306001"}},
        headers=headers,
    )
    assert document_id.json() == apollo.json()
    get = hub.get(
        "/graphql",
        params={"documentId": registered, "variables": '{"area": "440306001"}'},
        headers=headers,
    )
    assert get.json() == apollo.json()
    # The registered text itself, sent whole, is on the list too.
    text = hub.post(
        "/graphql", json={"query": HOUSES, "variables": {"area": "440306001"}}, headers=headers
    )
    assert text.json() == apollo.json()


async def test_a_locked_app_is_refused_an_ad_hoc_query(
    hub: TestClient, engine: Any, token_for: Callable[[str], str]
) -> None:
    response = hub.post("/graphql", json={"query": AD_HOC}, headers=as_(token_for, LOCKED))
    assert response.status_code == 200
    assert error_codes(response.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
    assert "data" not in response.json()
    entry = await only_entry(engine, response)
    assert (entry.outcome, entry.error_code, entry.subject) == (
        "denied",
        "PERSISTED_QUERY_NOT_ALLOWED",
        LOCKED,
    )


def test_another_app_is_unaffected(
    hub: TestClient, registered: str, token_for: Callable[[str], str]
) -> None:
    headers = as_(token_for, OTHER)
    ad_hoc = hub.post("/graphql", json={"query": AD_HOC}, headers=headers)
    assert data_of(ad_hoc.json())["houses"]["totalCount"] > 0
    # The locked app's document is its own: another app can not send it by hash.
    theirs = hub.post("/graphql", json=by_hash(registered), headers=headers)
    assert error_codes(theirs.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


def test_an_unknown_hash_is_not_found_and_a_wrong_one_is_a_bad_request(
    hub: TestClient, token_for: Callable[[str], str]
) -> None:
    headers = as_(token_for, LOCKED)
    unknown = hub.post("/graphql", json=by_hash("0" * 64), headers=headers)
    assert error_codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    strict = hub.post(
        "/graphql",
        json=by_hash("0" * 64),
        headers={**headers, "accept": "application/graphql-response+json"},
    )
    assert strict.status_code == 400
    mismatch = hub.post("/graphql", json=by_hash("0" * 64, query=AD_HOC), headers=headers)
    assert (mismatch.status_code, error_codes(mismatch.json())) == (400, ["BAD_REQUEST"])
    malformed = hub.post("/graphql", json=by_hash("not a hash"), headers=headers)
    assert (malformed.status_code, error_codes(malformed.json())) == (400, ["BAD_REQUEST"])


def test_a_removed_operation_is_refused_from_the_next_request_on(
    hub: TestClient, database_url: str, tmp_path: Path, token_for: Callable[[str], str]
) -> None:
    other = 'query One { grid(code: "440306") { name } }'
    path = tmp_path / "one.graphql"
    path.write_text(other, encoding="utf-8")
    added = operations("add", "--client", LOCKED, str(path), "--database-url", database_url)
    assert added.exit_code == 0, added.output
    headers = as_(token_for, LOCKED)
    sha = sha256_of(other)
    assert data_of(hub.post("/graphql", json=by_hash(sha), headers=headers).json())
    listed = operations("list", "--client", LOCKED, "--database-url", database_url)
    assert f"{LOCKED}  {sha}  One" in listed.stdout
    removed = operations("remove", "--client", LOCKED, sha, "--database-url", database_url)
    assert removed.exit_code == 0, removed.output
    after = hub.post("/graphql", json=by_hash(sha), headers=headers)
    assert error_codes(after.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    again = operations("remove", "--client", LOCKED, sha, "--database-url", database_url)
    assert again.exit_code == 2


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{ grid(code: ", "GRAPHQL_PARSE_FAILED"),
        ('{ grid(code: "440306") { population } }', "GRAPHQL_VALIDATION_FAILED"),
        ("{ " + " ".join(f"a{n}: me {{ subject }}" for n in range(20)) + " }", "ALIASES"),
    ],
)
def test_the_cli_refuses_a_document_the_hub_would_refuse(
    database_url: str, tmp_path: Path, document: str, message: str
) -> None:
    path = tmp_path / "bad.graphql"
    path.write_text(document, encoding="utf-8")
    result = operations("add", "--client", LOCKED, str(path), "--database-url", database_url)
    assert result.exit_code == 2
    assert message in result.output


def test_the_cli_refuses_an_unknown_app(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "ok.graphql"
    path.write_text("{ me { subject } }", encoding="utf-8")
    result = operations("add", "--client", "nobody-app", str(path), "--database-url", database_url)
    assert result.exit_code == 2
    assert "nobody-app" in result.output
