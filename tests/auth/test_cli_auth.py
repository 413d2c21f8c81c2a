"""``gridhub token``, ``client create|list|delete``, ``keys rotate``, as an operator runs them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.testclient import TestClient
from typer.testing import CliRunner

from auth.clients import authenticate_client
from auth.issuers import Verifier
from auth.keys import HubKeys
from auth.tokens import verify_token
from cli.auth import parse_duration
from hub.app import create_app
from hub.settings import Settings
from store.engine import create_engine
from store.models import OAuthClient, Principal

runner = CliRunner()


@pytest.fixture
async def cli_subject(engine: AsyncEngine) -> AsyncIterator[str]:
    subject = f"test-auth-cli-{uuid.uuid4().hex[:8]}"
    yield subject
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(delete(OAuthClient).where(OAuthClient.subject == subject))
        await session.execute(delete(Principal).where(Principal.subject == subject))


WORKER = "worker-440306001001001"


def _token(cli: typer.Typer, database_url: str, *args: str) -> Any:
    return runner.invoke(cli, ["token", *args, "--database-url", database_url])


def _said(result: Any) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def test_token_prints_the_token_alone_and_it_verifies(
    cli: typer.Typer, key_dir: Path, auth_settings: Settings, database_url: str
) -> None:
    HubKeys.load_or_create(key_dir)  # the hub's first start made them
    result = _token(
        cli, database_url, "--subject", WORKER, "--ttl", "8h", "--key-dir", str(key_dir)
    )

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.count(".") == 2
    settings = auth_settings.model_copy(update={"key_dir": key_dir})
    # Synchronous, like the command itself: it runs its own event loop.
    claims = asyncio.run(
        verify_token(token, Verifier.from_settings(settings, HubKeys.load_or_create(key_dir)))
    )
    assert (claims["sub"], claims["kind"], claims["iss"]) == (WORKER, "person", "gridhub")
    assert claims["exp"] - claims["iat"] == 8 * 3600


def test_token_reads_the_key_dir_and_database_from_the_environment(
    cli: typer.Typer, key_dir: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("GRIDHUB_KEY_DIR", str(key_dir))
    monkeypatch.setenv("GRIDHUB_DATABASE_URL", database_url)
    HubKeys.load_or_create(key_dir)

    result = runner.invoke(cli, ["token", "--subject", WORKER])

    assert result.exit_code == 0, result.output
    assert result.stdout.count(".") == 2


def test_token_refuses_to_sign_with_a_key_no_hub_knows(cli: typer.Typer, key_dir: Path) -> None:
    """Run outside the hub's directory, it would otherwise make a key of its own and print a
    token every hub refuses."""
    result = runner.invoke(cli, ["token", "--subject", "someone", "--key-dir", str(key_dir)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "No signing key" in result.stderr
    assert not key_dir.exists()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("90s", 90), ("30m", 1800), ("8h", 28800), ("1d", 86400), ("1h30m", 5400)],
)
def test_a_ttl_is_seconds_or_a_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("ttl", ["0", "-5", "8x", "h", "", "31d", "1.5h"])
def test_a_bad_ttl_is_a_usage_error(cli: typer.Typer, key_dir: Path, ttl: str) -> None:
    result = runner.invoke(
        cli, ["token", "--subject", "someone", "--ttl", ttl, "--key-dir", str(key_dir)]
    )

    assert result.exit_code == 2
    assert result.stdout == ""


def test_a_subject_too_long_is_a_usage_error(
    cli: typer.Typer, key_dir: Path, database_url: str
) -> None:
    HubKeys.load_or_create(key_dir)
    result = _token(cli, database_url, "--subject", "x" * 200, "--key-dir", str(key_dir))

    assert result.exit_code == 2
    assert result.stdout == ""


def test_a_subject_that_does_not_exist_gets_no_token_and_close_matches(
    cli: typer.Typer, key_dir: Path, database_url: str
) -> None:
    """A typo would otherwise print a token the hub answers with a bare 401."""
    HubKeys.load_or_create(key_dir)
    typo = WORKER[:-1] + "x"  # worker-44030600100100x

    result = _token(cli, database_url, "--subject", typo, "--key-dir", str(key_dir))

    assert result.exit_code == 2
    assert result.stdout == ""
    said = _said(result)
    assert f"No person '{typo}'" in said
    assert WORKER in said  # a close match
    assert "gridhub principals" in said


def test_a_subject_with_nothing_close_points_at_the_list(
    cli: typer.Typer, key_dir: Path, database_url: str
) -> None:
    HubKeys.load_or_create(key_dir)

    result = _token(cli, database_url, "--subject", "zzzz", "--key-dir", str(key_dir))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Did you mean" not in _said(result)
    assert "gridhub principals" in _said(result)


def test_an_apps_subject_gets_no_person_token(
    cli: typer.Typer, key_dir: Path, database_url: str
) -> None:
    """The hub refuses a person token naming a client: say where apps get theirs."""
    HubKeys.load_or_create(key_dir)

    result = _token(cli, database_url, "--subject", "housing-app", "--key-dir", str(key_dir))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'housing-app' is a client" in _said(result)
    assert "/oauth/token" in _said(result)


async def _client_and_principal(
    database_url: str, client_id: str, secret: str, subject: str
) -> tuple[OAuthClient | None, Principal | None]:
    engine = create_engine(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with AsyncSession(engine) as session:
            client = await authenticate_client(session, client_id, secret)
            return client, await session.get(Principal, subject)
    finally:
        await engine.dispose()


def test_client_create_prints_the_id_and_secret_once_and_they_work(
    cli: typer.Typer, database_url: str, cli_subject: str
) -> None:
    """Synchronous, like the command itself: it runs its own event loop."""
    result = runner.invoke(
        cli,
        [
            "client",
            "create",
            "--subject",
            cli_subject,
            "--department",
            "fire",
            "--name",
            "消防 inspections app",
            "--database-url",
            database_url,
        ],
    )

    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert set(lines) == {"client_id", "client_secret"}
    client, principal = asyncio.run(
        _client_and_principal(database_url, lines["client_id"], lines["client_secret"], cli_subject)
    )
    assert client is not None
    assert client.subject == cli_subject
    assert principal is not None
    assert (principal.kind, principal.department_code, principal.name) == (
        "client",
        "fire",
        "消防 inspections app",
    )


def test_client_create_for_an_unknown_department_fails_plainly(
    cli: typer.Typer, database_url: str, cli_subject: str
) -> None:
    result = runner.invoke(
        cli,
        [
            "client",
            "create",
            "--subject",
            cli_subject,
            "--department",
            "nope",
            "--database-url",
            database_url,
        ],
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no department" in result.output


def test_keys_rotate_prints_the_new_kid_and_keeps_the_old(cli: typer.Typer, key_dir: Path) -> None:
    old = HubKeys.load_or_create(key_dir).kid

    result = runner.invoke(cli, ["keys", "rotate", "--key-dir", str(key_dir)])

    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    keys = HubKeys.load_or_create(key_dir)
    assert keys.kid == new != old
    assert [key["kid"] for key in keys.jwks()["keys"]] == [new, old]


def test_every_identity_command_explains_itself(cli: typer.Typer) -> None:
    for command in (
        ["token"],
        ["client", "create"],
        ["client", "list"],
        ["client", "delete"],
        ["keys", "rotate"],
    ):
        result = runner.invoke(cli, [*command, "--help"])
        assert result.exit_code == 0, command
        assert "--" in result.stdout


def _create(cli: typer.Typer, database_url: str, subject: str) -> dict[str, str]:
    result = runner.invoke(
        cli,
        ["client", "create", "--subject", subject, "--department", "fire"]
        + ["--database-url", database_url],
    )
    assert result.exit_code == 0, result.output
    return dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())


def _listed(cli: typer.Typer, database_url: str) -> list[dict[str, str]]:
    result = runner.invoke(cli, ["client", "list", "--json", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, str]] = orjson.loads(result.stdout)
    return rows


def test_client_list_shows_subject_id_and_age_never_the_secret(
    cli: typer.Typer, database_url: str, cli_subject: str
) -> None:
    old, new = _create(cli, database_url, cli_subject), _create(cli, database_url, cli_subject)

    mine = [row for row in _listed(cli, database_url) if row["subject"] == cli_subject]
    assert [row["client_id"] for row in mine] == [old["client_id"], new["client_id"]]
    assert all(set(row) == {"subject", "client_id", "created"} for row in mine)
    assert datetime.fromisoformat(mine[0]["created"]).tzinfo is not None
    table = runner.invoke(cli, ["client", "list", "--database-url", database_url])
    assert table.exit_code == 0, table.output
    assert old["client_id"] in table.stdout
    assert cli_subject in table.stdout
    for shown in (table.stdout, orjson.dumps(mine).decode()):
        assert old["client_secret"] not in shown
        assert new["client_secret"] not in shown
        assert "scrypt" not in shown


def test_a_deleted_client_gets_no_token_and_the_apps_other_client_still_does(
    cli: typer.Typer, database_url: str, cli_subject: str, auth_settings: Settings
) -> None:
    """The operators' recipe for a new secret: a second client, then delete the old one."""
    old, new = _create(cli, database_url, cli_subject), _create(cli, database_url, cli_subject)
    settings = auth_settings.model_copy(update={"database_url": database_url})
    HubKeys.load_or_create(settings.key_dir)
    with TestClient(create_app(settings)) as http:

        def token_of(client: dict[str, str]) -> Any:
            return http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(client["client_id"], client["client_secret"]),
            )

        def me(token: str) -> Any:
            return http.post(
                "/graphql",
                json={"query": "{ me { subject } }"},
                headers={"authorization": f"Bearer {token}"},
            )

        live = token_of(old).json()["access_token"]  # taken before the deletion

        result = runner.invoke(
            cli, ["client", "delete", old["client_id"], "--database-url", database_url]
        )

        assert result.exit_code == 0, result.output
        assert cli_subject in result.stderr
        assert old["client_id"] not in [row["client_id"] for row in _listed(cli, database_url)]
        refused = token_of(old)
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        assert me(live).status_code == 401  # its live token ends too
        kept = token_of(new)
        assert kept.status_code == 200
        assert me(kept.json()["access_token"]).json()["data"]["me"]["subject"] == cli_subject


def test_deleting_an_unknown_client_is_refused_plainly(cli: typer.Typer, database_url: str) -> None:
    before = _listed(cli, database_url)

    result = runner.invoke(
        cli, ["client", "delete", "gh_nosuchclient", "--database-url", database_url]
    )

    assert result.exit_code == 1
    assert result.stdout == ""
    said = " ".join(result.stderr.split())
    assert "no client with id 'gh_nosuchclient'" in said
    assert "gridhub client list" in said
    assert _listed(cli, database_url) == before


def test_principals_shows_every_subject_whole_in_a_narrow_terminal(
    cli: typer.Typer, database_url: str
) -> None:
    """An operator copies subjects from this table into other commands: none may be cut or
    wrapped, whatever the terminal's width."""
    listed = runner.invoke(cli, ["principals", "--json", "--database-url", database_url])
    subjects = [p["subject"] for p in orjson.loads(listed.stdout)]
    assert WORKER in subjects

    table = runner.invoke(
        cli, ["principals", "--database-url", database_url], env={"COLUMNS": "80"}
    )

    assert table.exit_code == 0, table.output
    cells = {cell.strip() for line in table.stdout.splitlines() for cell in line.split("│")}
    assert set(subjects) <= cells
