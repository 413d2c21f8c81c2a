"""The streamed generator and bulk loader (``gridhub seed --profile baoan``, ``--people N`` from
100,000): the same seed gives the same rows however many processes make them, the rows are as
real as the demo's, and a district loads through ``COPY`` on PostgreSQL (every index and
constraint the migrations made still there afterwards) and through inserts on SQLite."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import shapely
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.standard import searchable
from demo import DistrictNotEmptyError
from demo.bulk import make_plan, seed_streamed
from demo.bulk.events import EventContext, make_events, midnight
from demo.bulk.pieces import COLUMNS, as_tuples
from demo.bulk.plan import Plan
from demo.bulk.streets import StreetSummary, make_street
from demo.bulk.workers import Done, Piece, Runner
from demo.generator import Profile
from demo.profiles import PROFILES, STREAMED_FROM_PEOPLE, is_streamed, profile_named
from feeds.checksums import is_valid_credit_code, is_valid_id_number
from hub.settings import Settings
from store.engine import create_engine
from store.models import Address, Entity, Event, House, Person, Room
from tests.conftest import _fresh_database

#: Three streets, so that the codes each street draws from its own part of are tested apart.
TINY = Profile(3, 2, 2, houses=90, people=900, entities=80, events=700, event_days=40)
AS_OF = date(2026, 11, 1)

Rows = dict[str, list[tuple[Any, ...]]]


def generate_here(plan: Plan) -> Rows:
    """Every task of ``plan`` run in this process, in task order."""
    rows: Rows = defaultdict(list)

    def emit(table: str, made: Any) -> None:
        rows[table].extend(as_tuples(table, made))

    summaries = [make_street(task, emit) for task in plan.streets]
    context = EventContext.of(plan.places, summaries)
    for piece in plan.event_slices:
        make_events(piece, context, emit)
    return rows


def generate_in_workers(plan: Plan, workers: int) -> Rows:
    """The same through :class:`Runner` (worker processes, pieces in any order)."""
    rows: Rows = defaultdict(list)

    def drain(runner: Runner, tasks: int) -> list[Any]:
        results: dict[int, Any] = {}
        try:
            while len(results) < tasks:
                message = runner.next(timeout=5)
                if isinstance(message, Piece):
                    assert isinstance(message.payload, list)
                    rows[message.table].extend(message.payload)
                elif isinstance(message, Done):
                    results[message.task] = message.result
                elif message is not None:
                    pytest.fail(f"a task failed: {message}")
        finally:
            runner.close()
        return [results[i] for i in range(tasks)]

    summaries = drain(Runner(plan.streets, workers, "rows"), len(plan.streets))
    context = EventContext.of(plan.places, summaries)
    drain(Runner(plan.event_slices, workers, "rows", context), len(plan.event_slices))
    return rows


def ordered(rows: Rows) -> dict[str, list[tuple[Any, ...]]]:
    return {table: sorted(made, key=repr) for table, made in rows.items()}


@pytest.fixture(scope="module")
def tiny() -> Rows:
    return generate_here(make_plan(11, TINY, AS_OF))


def test_the_same_seed_gives_the_same_rows_and_another_seed_others(tiny: Rows) -> None:
    assert generate_here(make_plan(11, TINY, AS_OF)) == tiny
    other = generate_here(make_plan(12, TINY, AS_OF))
    assert other["people"] != tiny["people"]
    assert other["events"] != tiny["events"]


def test_two_worker_processes_make_the_same_rows_as_one_thread(tiny: Rows) -> None:
    assert ordered(generate_in_workers(make_plan(11, TINY, AS_OF), 2)) == ordered(tiny)


def test_the_profile_sizes_are_met(tiny: Rows) -> None:
    assert len(tiny["houses"]) == TINY.houses
    assert len(tiny["people"]) == TINY.people
    assert len(tiny["entities"]) == TINY.entities
    assert len(tiny["events"]) == TINY.events
    assert len(tiny["addresses"]) == len(tiny["houses"]) + len(tiny["rooms"])


def column(rows: Rows, table: str, name: str) -> list[Any]:
    at = COLUMNS[table].index(name)
    return [row[at] for row in rows[table]]


def records(rows: Rows, table: str) -> list[dict[str, Any]]:
    return [dict(zip(COLUMNS[table], row, strict=True)) for row in rows[table]]


def test_codes_are_valid_and_unique_across_the_streets(tiny: Rows) -> None:
    ids = column(tiny, "people", "id_number")
    assert all(is_valid_id_number(number) for number in ids)
    assert len(set(ids)) == len(ids)
    phones = [phone for phone in column(tiny, "people", "phone") if phone]
    assert len(set(phones)) == len(phones)
    credit = column(tiny, "entities", "credit_code")
    assert all(is_valid_credit_code(code) for code in credit)
    assert len(set(credit)) == len(credit)
    names = column(tiny, "entities", "name")
    assert len(set(names)) == len(names)
    assert sorted(column(tiny, "people", "id")) == list(range(1, TINY.people + 1))
    # the three streets' people all drew ID sequence numbers from their own tens
    street_of_house = {h: h[6:9] for h in column(tiny, "houses", "code")}
    tens = defaultdict(set)
    for person in records(tiny, "people"):
        tens[street_of_house[person["house_code"]]].add(person["id_number"][14])
    assert [sorted(t) for _, t in sorted(tens.items())] == [["0"], ["1"], ["2"]]


def test_people_live_in_rooms_of_their_grid_and_work_for_entities_that_exist(tiny: Rows) -> None:
    rooms = {room["code"]: room for room in records(tiny, "rooms")}
    credit = set(column(tiny, "entities", "credit_code"))
    people = records(tiny, "people")
    for person in people:
        room = rooms[person["room_code"]]
        assert (room["house_code"], room["grid_code"]) == (
            person["house_code"],
            person["grid_code"],
        )
        assert person["employer_code"] is None or person["employer_code"] in credit
    assert any(person["employer_code"] for person in people)
    ids = {person["id"] for person in people}
    assert all(e["legal_representative_id"] in ids for e in records(tiny, "entities"))
    kinds = Counter(person["registration"] for person in people)
    assert kinds["floating"] > 3 * kinds["local"]  # nine in ten are not registered here


def test_every_room_address_is_normalised_as_the_matcher_does(tiny: Rows) -> None:
    for address in records(tiny, "addresses"):
        assert address["normalised"] == searchable(address["text"]), address["code"]


def test_events_are_numbered_in_the_order_reported_within_the_span(tiny: Rows) -> None:
    events = sorted(records(tiny, "events"), key=lambda e: e["id"])
    assert [e["id"] for e in events] == list(range(1, TINY.events + 1))
    times = [e["reported_at"] for e in events]
    assert times == sorted(times)
    now = midnight(AS_OF)
    assert now - TINY.event_days * 86_400 <= times[0]
    assert times[-1] < now
    for event in events:
        assert event["deadline"] > event["reported_at"]
        if event["status"] == "closed":
            assert event["closed_at"] is not None
            assert event["closed_at"] <= now
    statuses = Counter(event["status"] for event in events)
    assert statuses["closed"] > len(events) / 2  # most events of forty days are done


def test_events_away_from_houses_lie_inside_their_grid(tiny: Rows) -> None:
    plan = make_plan(11, TINY, AS_OF)
    polygons = {place.code: place.polygon for place in plan.places}
    away = [e for e in records(tiny, "events") if e["house_code"] is None]
    assert away
    for event in away:
        assert shapely.contains_xy(polygons[event["grid_code"]], event["lon"], event["lat"])


def test_profiles_are_a_table_and_large_ones_are_streamed() -> None:
    baoan = profile_named("baoan")
    assert baoan.streets * baoan.communities_per_street * baoan.grids_per_community == 3_840
    assert (baoan.people, baoan.entities, baoan.houses, baoan.events) == (
        4_920_000,
        894_000,
        170_000,
        21_640_000,
    )
    assert is_streamed(baoan)
    assert not is_streamed(PROFILES["demo"])
    assert is_streamed(Profile.for_people(STREAMED_FROM_PEOPLE))
    with pytest.raises(ValueError, match="baoan"):
        profile_named("shenzhen")


def test_a_summary_names_houses_for_the_matters_tied_to_them() -> None:
    plan = make_plan(11, TINY, AS_OF)
    summary: StreetSummary = make_street(plan.streets[0], lambda table, rows: None)
    assert summary.houses
    assert summary.houses_for["food_safety"]


# --- loading --------------------------------------------------------------------------------


@pytest.fixture
def fresh_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of this test's own."""
    yield from _fresh_database(backend, tmp_path_factory)


@pytest.fixture
async def fresh(fresh_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=fresh_url))
    yield engine
    await engine.dispose()


async def counts(engine: AsyncEngine) -> dict[str, int]:
    found = {}
    async with engine.connect() as connection:
        for model in (House, Room, Address, Person, Entity, Event):
            found[model.__tablename__] = await connection.scalar(
                select(func.count()).select_from(model)
            )
    return found


SCHEMA_OBJECTS = """
    SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'constraint ' || conname || ' on ' || conrelid::regclass::text || ': '
           || pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    ORDER BY 1
"""


async def test_a_small_district_loads_through_copy_or_inserts(
    fresh: AsyncEngine, backend: str, tiny: Rows
) -> None:
    before: list[str] = []
    if backend == "postgresql":
        async with fresh.connect() as connection:
            before = list(await connection.scalars(text(SCHEMA_OBJECTS)))
    seen: dict[str, tuple[int, int | None]] = {}
    grids = await seed_streamed(
        fresh, 11, TINY, AS_OF, workers=0, progress=lambda t, d, n: seen.update({t: (d, n)})
    )
    assert len([g for g in grids if g["level"] == "grid"]) == 12
    assert await counts(fresh) == {table: len(made) for table, made in tiny.items()}
    assert seen["people"] == (TINY.people, TINY.people)
    async with fresh.connect() as connection:
        person = (await connection.execute(select(Person).where(Person.id == 1))).one()
        first = (await connection.execute(select(Event).where(Event.id == 1))).one()
        if backend == "postgresql":
            after = list(await connection.scalars(text(SCHEMA_OBJECTS)))
            assert after == before  # every index and constraint made again, validated
    expected = next(p for p in records(tiny, "people") if p["id"] == 1)
    assert (person.id_number, person.birth_date, person.room_code) == (
        expected["id_number"],
        expected["birth_date"],
        expected["room_code"],
    )
    event = next(e for e in records(tiny, "events") if e["id"] == 1)
    assert first.reported_at == datetime.fromtimestamp(event["reported_at"], UTC)
    assert first.closed_at is None or first.closed_at - first.reported_at > timedelta(0)


async def test_a_database_with_a_district_is_refused_and_left_as_it_was(
    fresh: AsyncEngine,
) -> None:
    await seed_streamed(fresh, 11, TINY, AS_OF, workers=0)
    loaded = await counts(fresh)
    with pytest.raises(DistrictNotEmptyError):
        await seed_streamed(fresh, 12, TINY, AS_OF, workers=0)
    assert await counts(fresh) == loaded


async def test_a_failing_task_leaves_nothing_behind(
    fresh: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import demo.bulk.workers as workers

    def broken(task: Any, context: Any, emit: Any) -> None:
        emit("events", [])
        raise RuntimeError("the generator broke")

    monkeypatch.setattr(workers, "make_events", broken)
    with pytest.raises(workers.GenerationFailed, match="the generator broke"):
        await seed_streamed(fresh, 11, TINY, AS_OF, workers=0)
    assert set((await counts(fresh)).values()) == {0}
    async with fresh.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM grids")) == 0


def test_the_seed_command_takes_a_profile_and_refuses_an_unknown_one() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["seed", "--profile", "shenzhen"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["seed", "--profile", "baoan", "--people", "5"])
    assert result.exit_code == 2


def test_the_scaling_page_lists_every_profile_with_its_sizes() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "scaling.md").read_text(encoding="utf-8")
    rows = {
        line.split("|")[1].strip(): line for line in page.splitlines() if line.startswith("| `")
    }
    for name, profile in PROFILES.items():
        row = next(line for key, line in rows.items() if key.startswith(f"`{name}`"))
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        grids = profile.streets * profile.communities_per_street * profile.grids_per_community
        assert cells[1] == (
            f"{profile.streets} × {profile.communities_per_street} × {profile.grids_per_community}"
        ), name
        assert cells[2:6] == [
            f"{grids:,}",
            f"{profile.houses:,}",
            f"{profile.people:,}",
            f"{profile.entities:,}",
        ], name
        assert cells[6] == f"{profile.events:,} ({profile.event_days:,} days)", name
        scale = "the demo's" if profile.rooms_scale == 1 else f"{profile.rooms_scale} × the demo's"
        assert cells[7] == scale, name
