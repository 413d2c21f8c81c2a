"""``gridhub person add|remove``: an operator onboards a grid worker, moves them, lets them go.

Synchronous, like the commands themselves (each runs its own event loop); the hub is a
TestClient app on the session's database, asked with tokens it signs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import typer
from starlette.testclient import TestClient
from typer.testing import CliRunner

from demo import District
from hub.app import create_app
from hub.settings import Settings
from tests.support import data_of, error_codes, nodes

runner = CliRunner()
GRID_A = "440306001001001"
GRID_B = "440306001001002"
PEOPLE = "{ people(first: 100) { totalCount edges { node { name house { gridCode } } } } }"


@pytest.fixture
def hub(settings: Settings) -> Iterator[TestClient]:
    quiet = settings.model_copy(update={"rate_limits": False})
    with TestClient(create_app(quiet)) as client:
        yield client


@pytest.fixture
def subject(cli: typer.Typer, database_url: str) -> Iterator[str]:
    subject = f"worker-test-{uuid.uuid4().hex[:8]}"
    yield subject
    runner.invoke(cli, ["person", "remove", subject, "--database-url", database_url])


def _person(cli: typer.Typer, database_url: str, *arguments: str) -> Any:
    return runner.invoke(cli, ["person", *arguments, "--database-url", database_url])


def _ask(hub: TestClient, token: str) -> dict[str, Any]:
    response = hub.post(
        "/graphql", json={"query": PEOPLE}, headers={"authorization": f"Bearer {token}"}
    )
    return response.json()  # type: ignore[no-any-return]


def _eventually(check: Callable[[], bool]) -> None:
    """On PostgreSQL a hub hears of a change by notification, a moment after its commit."""
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "the hub did not take up the change"
        time.sleep(0.02)


def _grids(body: dict[str, Any]) -> set[str]:
    return {p["house"]["gridCode"] for p in nodes(data_of(body)["people"]) if p["house"]}


def test_a_person_added_sees_their_grid_then_the_one_they_move_to_then_nothing(
    cli: typer.Typer,
    database_url: str,
    hub: TestClient,
    subject: str,
    token_for: Callable[[str], str],
    district: District,
) -> None:
    early = token_for(subject)
    assert error_codes(_ask(hub, early)) == ["UNAUTHENTICATED"]  # nobody yet
    time.sleep(1.1)  # a token's iat is in whole seconds: add them in a later one

    added = _person(
        cli,
        database_url,
        "add",
        subject,
        "-d",
        "grid_office",
        "-a",
        GRID_A,
        "-r",
        "grid_worker",
        "--name",
        "李娜",
    )
    assert added.exit_code == 0, added.output
    assert f"Added {subject}" in added.output
    # a token issued before the person was added was issued to nobody: it stays refused
    assert error_codes(_ask(hub, early)) == ["UNAUTHENTICATED"]
    token = token_for(subject)
    body = _ask(hub, token)
    in_a = sum(1 for p in district.people if p["grid_code"] == GRID_A)
    assert data_of(body)["people"]["totalCount"] == in_a
    assert _grids(body) == {GRID_A}

    moved = _person(cli, database_url, "add", subject, "-d", "grid_office", "-a", GRID_B)
    assert moved.exit_code == 0, moved.output
    assert f"Updated {subject}" in moved.output
    _eventually(lambda: _grids(_ask(hub, token)) == {GRID_B})  # the role kept, the area replaced

    listed = runner.invoke(cli, ["principals", "--json", "--database-url", database_url])
    me = next(p for p in json.loads(listed.stdout) if p["subject"] == subject)
    assert (me["kind"], me["department"], me["areas"], me["name"]) == (
        "person",
        "grid_office",
        [GRID_B],
        "李娜",
    )
    assert "grid_worker" in me["roles"]

    removed = _person(cli, database_url, "remove", subject)
    assert removed.exit_code == 0, removed.output
    _eventually(lambda: error_codes(_ask(hub, token)) == ["UNAUTHENTICATED"])
    again = _person(cli, database_url, "remove", subject)
    assert again.exit_code == 1
    assert "No person" in again.output


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["-d", "no_such_department"], "no department"),
        (["-d", "grid_office", "-a", "999999"], "no area with code '999999'"),
        (["-d", "grid_office", "-r", "grid_wroker"], "no role 'grid_wroker' in the policy"),
    ],
)
def test_a_person_that_can_not_be_saved_is_refused_plainly_and_nothing_is_written(
    cli: typer.Typer, database_url: str, subject: str, arguments: list[str], says: str
) -> None:
    result = _person(cli, database_url, "add", subject, *arguments)
    assert result.exit_code == 1
    assert says in result.output
    assert "Traceback" not in result.output
    listed = runner.invoke(cli, ["principals", "--json", "--database-url", database_url])
    assert subject not in listed.stdout


def test_an_apps_subject_is_not_made_a_person(cli: typer.Typer, database_url: str) -> None:
    for command in (["add", "housing-app", "-d", "housing"], ["remove", "housing-app"]):
        result = _person(cli, database_url, *command)
        assert result.exit_code == 1
        assert "is a client (an app), not a person" in result.output
