"""``gridhub catalog sync``: files in, one version per real change, nothing on a mistake.

Runs on a database of this module's own (migrated, holding only the departments), so the
session's catalogue is not rewritten under the other tests.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from catalog import changes
from catalog.files import CatalogFileError, packaged_directory, read_directory, read_file
from catalog.resources import Definition, FieldEntry, Sharing, UpdateFrequency
from catalog.sync import sync, sync_packaged
from cli.main import _sync_catalogue, app
from demo.reference import DEPARTMENTS
from hub.settings import Settings
from store.engine import create_engine
from store.models import CatalogField, CatalogResource, CatalogVersion, Department
from tests.conftest import _fresh_database

runner = CliRunner()
PACKAGED = read_directory(packaged_directory())
CODES = sorted(r.definition.code for r in PACKAGED)


@pytest.fixture(scope="module")
def sync_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database with the district's departments and nothing else."""
    for url in _fresh_database(backend, tmp_path_factory):

        async def departments(url: str) -> None:
            engine = create_engine(Settings(database_url=url))
            try:
                async with engine.begin() as connection:
                    await connection.execute(insert(Department), [d._asdict() for d in DEPARTMENTS])
            finally:
                await engine.dispose()

        asyncio.run(departments(url))
        yield url


@pytest.fixture(scope="module")
async def sync_engine(sync_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=sync_url))
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _empty_catalogue(sync_engine: AsyncEngine) -> None:
    async with sync_engine.begin() as connection:
        for model in (CatalogVersion, CatalogField, CatalogResource):
            await connection.execute(delete(model))


async def _versions(engine: AsyncEngine) -> dict[str, list[tuple[int, str, str | None]]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                CatalogVersion.resource_code,
                CatalogVersion.version,
                CatalogVersion.changed_by,
                CatalogVersion.source,
            ).order_by(CatalogVersion.resource_code, CatalogVersion.version)
        )
        found: dict[str, list[tuple[int, str, str | None]]] = {}
        for code, version, by, source in rows:
            found.setdefault(code, []).append((version, by, source))
        return found


def _copy_packaged(tmp_path: Path) -> Path:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    for file in packaged_directory().iterdir():
        if file.name.endswith(".toml"):
            (folder / file.name).write_text(file.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


async def test_the_first_sync_creates_every_resource(sync_engine: AsyncEngine) -> None:
    report = await sync(sync_engine, PACKAGED, by="ops-li")
    assert sorted(report.created) == CODES
    versions = await _versions(sync_engine)
    assert sorted(versions) == CODES
    assert versions["FW-JC-001"] == [(1, "ops-li", "housing.toml")]


async def test_a_second_sync_of_unchanged_files_writes_no_version(
    sync_engine: AsyncEngine,
) -> None:
    await sync(sync_engine, PACKAGED, by="ops-li")
    before = await _versions(sync_engine)
    report = await sync(sync_engine, read_directory(packaged_directory()), by="ops-wang")
    assert report.written == 0
    assert sorted(report.unchanged) == CODES
    assert await _versions(sync_engine) == before


async def test_a_changed_file_makes_one_new_version(
    sync_engine: AsyncEngine, tmp_path: Path
) -> None:
    await sync(sync_engine, PACKAGED, by="ops-li")
    folder = _copy_packaged(tmp_path)
    housing = folder / "housing.toml"
    text = housing.read_text(encoding="utf-8")
    housing.write_text(text.replace('floors = "地上层数"', 'floors = "地上楼层数"'), "utf-8")

    report = await sync(sync_engine, read_directory(folder), by="ops-wang")
    assert report.changed == ["FW-JC-001"]
    assert report.written == 1
    versions = await _versions(sync_engine)
    assert versions["FW-JC-001"] == [(1, "ops-li", "housing.toml"), (2, "ops-wang", "housing.toml")]
    assert versions["FW-FJ-002"] == [(1, "ops-li", "housing.toml")]
    async with sync_engine.connect() as connection:
        descriptions = dict(
            (
                await connection.execute(
                    select(CatalogField.name, CatalogField.description).where(
                        CatalogField.resource_code == "FW-JC-001"
                    )
                )
            ).all()
        )
        first = await connection.scalar(
            select(CatalogVersion.definition).where(
                CatalogVersion.resource_code == "FW-JC-001", CatalogVersion.version == 1
            )
        )
    assert descriptions["floors"] == "地上楼层数"
    assert {"name": "floors", "description": "地上层数"} in first["fields"]


async def test_a_mistake_in_any_file_writes_nothing(
    sync_engine: AsyncEngine, tmp_path: Path
) -> None:
    folder = _copy_packaged(tmp_path)
    grid = folder / "grid_office.toml"
    grid.write_text(
        grid.read_text("utf-8").replace('parent = "上级区划"', 'parents = "上级区划"'), "utf-8"
    )
    with pytest.raises(CatalogFileError) as raised:
        await sync(sync_engine, read_directory(folder), by="ops-li")
    assert raised.value.problems == ["grid_office.toml: Grid has no field `parents`"]
    assert await _versions(sync_engine) == {}


async def test_a_dry_run_writes_nothing(sync_engine: AsyncEngine) -> None:
    report = await sync(sync_engine, PACKAGED, by="ops-li", dry_run=True)
    assert sorted(report.created) == CODES
    assert await _versions(sync_engine) == {}


async def test_a_resource_registered_through_the_api_is_taken_over_by_a_file(
    sync_engine: AsyncEngine,
) -> None:
    definition = Definition(
        code="FW-JC-001",
        name="房屋",
        summary="楼栋。",
        department="housing",
        graphql_type="House",
        fields=(FieldEntry("code", "楼栋编码"),),
        sharing=Sharing.UNCONDITIONAL,
        sharing_condition=None,
        update_frequency=UpdateFrequency.WEEKLY,
    )
    officer = changes.Officer("officer-housing", "housing")
    await changes.register(sync_engine, officer, definition, datetime.now(UTC))

    report = await sync(sync_engine, PACKAGED, by="ops-li")
    assert report.adopted == ["FW-JC-001"]
    assert (await _versions(sync_engine))["FW-JC-001"] == [
        (1, "officer-housing", None),
        (2, "ops-li", "housing.toml"),
    ]
    async with sync_engine.connect() as connection:
        origin = await connection.scalar(
            select(CatalogResource.origin).where(CatalogResource.code == "FW-JC-001")
        )
    assert origin == "file"


async def test_a_resource_no_file_defines_any_more_is_reported_and_kept(
    sync_engine: AsyncEngine, tmp_path: Path
) -> None:
    await sync(sync_engine, PACKAGED, by="ops-li")
    folder = _copy_packaged(tmp_path)
    (folder / "data_bureau.toml").unlink()
    report = await sync(sync_engine, read_directory(folder), by="ops-li")
    assert report.missing == ["ZW-BM-001"]
    assert "ZW-BM-001" in await _versions(sync_engine)


async def test_the_seeded_catalogue_is_the_packaged_one(engine: AsyncEngine) -> None:
    """The session's database was synced when seeded: syncing again changes nothing."""
    report = await sync_packaged(engine, by="tests")
    assert report.written == 0
    assert sorted(report.unchanged) == CODES


def _count(url: str) -> int:
    async def count() -> int:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.connect() as connection:
                return int(
                    await connection.scalar(select(func.count()).select_from(CatalogVersion)) or 0
                )
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_the_command_syncs_once_then_reports_no_change(sync_url: str) -> None:
    first = runner.invoke(app, ["catalog", "sync", "--database-url", sync_url, "--by", "ops-li"])
    assert first.exit_code == 0, first.output
    assert f"{len(CODES)} resources: {len(CODES)} created" in first.output
    assert "created: RK-JC-001" in first.output
    written = _count(sync_url)
    assert written == len(CODES)

    again = runner.invoke(app, ["catalog", "sync", "--database-url", sync_url])
    assert again.exit_code == 0, again.output
    assert f"0 created, 0 changed, 0 taken over, {len(CODES)} unchanged" in again.output
    assert _count(sync_url) == written


def test_the_command_refuses_files_with_mistakes(sync_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    shutil.copy(Path(str(packaged_directory())) / "housing.toml", folder / "housing.toml")
    (folder / "people.toml").write_text(
        '[[resource]]\ncode = "RK-X-1"\nname = "x"\nsummary = "x"\ndepartment = "public_security"'
        '\ntype = "Person"\nsharing = "CONDITIONAL"\ncondition = "x"\nupdate_frequency = "DAILY"'
        '\ntier = 3\n[resource.fields]\nidNumber = "身份号码"\n',
        "utf-8",
    )
    result = runner.invoke(
        app, ["catalog", "sync", "--database-url", sync_url, "--dir", str(folder)]
    )
    assert result.exit_code == 2
    assert "catalog/fields.py" in result.output
    assert _count(sync_url) == 0


def test_gridhub_seed_loads_the_catalogue(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'seeded.db'}"
    assert runner.invoke(app, ["db", "upgrade", "--database-url", url]).exit_code == 0
    seeded = runner.invoke(app, ["seed", "--database-url", url, "--people", "300"])
    assert seeded.exit_code == 0, seeded.output
    assert _count(url) == len(CODES)


def test_the_demo_brings_an_older_database_up_to_the_files(sync_url: str) -> None:
    """``gridhub demo`` on a database seeded before the catalogue existed syncs it."""
    settings = Settings(database_url=sync_url)
    asyncio.run(_sync_catalogue(settings))
    assert _count(sync_url) == len(CODES)
    asyncio.run(_sync_catalogue(settings))  # every start: no new version
    assert _count(sync_url) == len(CODES)


def test_every_command_explains_itself() -> None:
    result = runner.invoke(app, ["catalog", "sync", "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


FILE_MISTAKES: dict[str, tuple[str, str]] = {
    "not TOML": ("[[resource]\n", "not valid TOML"),
    "a tier": ('[[resource]]\ncode = "A-B"\ntier = 2\n', "declared once, in catalog/fields.py"),
    "a mask": ('[[resource]]\nmask = "name"\n', "declared once, in catalog/fields.py"),
    "an unknown key": ('[[resource]]\nowner = "x"\n', "unknown key `owner`"),
    "an unknown sharing": ('[[resource]]\nsharing = "OPEN"\n', "'OPEN' is not one of"),
    "fields as a list": ('[[resource]]\nfields = ["a"]\n', "maps each field's name"),
    "something else at the top": ('title = "x"\n', "only [[resource]] and [[feed]] tables"),
}


@pytest.mark.parametrize(("text", "says"), FILE_MISTAKES.values(), ids=list(FILE_MISTAKES))
def test_a_file_mistake_is_named(text: str, says: str) -> None:
    with pytest.raises(CatalogFileError) as raised:
        read_file("x.toml", text)
    assert any(says in problem for problem in raised.value.problems), raised.value.problems
    assert all(problem.startswith("x.toml") for problem in raised.value.problems)


def test_a_code_in_two_files_is_refused(tmp_path: Path) -> None:
    folder = _copy_packaged(tmp_path)
    shutil.copy(folder / "housing.toml", folder / "housing-copy.toml")
    with pytest.raises(CatalogFileError) as raised:
        read_directory(folder)
    assert any(
        "FW-JC-001 is in housing-copy.toml and again in housing.toml" in p
        for p in raised.value.problems
    )


def test_the_packaged_files_state_no_tier_or_mask() -> None:
    """The one declaration rule, checked on the shipped files' text as well as by the reader."""
    for file in packaged_directory().iterdir():
        if file.name.endswith(".toml"):
            for line in file.read_text("utf-8").splitlines():
                key = line.split("=")[0].strip() if "=" in line else ""
                assert key not in {"tier", "mask"}, (file.name, line)
