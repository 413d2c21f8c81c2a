"""The demo's verification work: what a district's feeds and departments would have left for
its grid workers, so a worker's first ``tasks`` query shows work.

In every grid, chosen by position (the same rows for the same district, whatever its size, in
a handful of set-based statements):

- a feed conflict: another department's feed reports another residence kind for the grid's
  3rd resident than the authoritative department holds (a CONFLICT task);
- an unplaced address: the 7th resident's address as a department wrote it, which the matcher
  could not place, its candidates in the grid (an UNPLACED_ADDRESS task);
- a stale record: the grid's 2nd house, last verified more than a year ago, and the houses'
  resource rechecked yearly (a RECHECK task);
- a request: the housing bureau asks for the grid's 1st house to be verified (a REQUEST task).

Then the hub's generator raises the tasks, and in the first grid of each community some work is
already done, through the workflow itself as the people concerned: the worker confirmed the
stale house, corrected the conflicting residence kind (a correction the authoritative
department's officer accepted: the person's history shows it), and reported the request's house
found otherwise (its correction waits for the housing bureau's officer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    Subquery,
    Table,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from auth.principal import Identity
from catalog.authority import NoAuthority, authoritative_department
from policies.access import Access
from store.errors import GridhubError
from store.models import (
    AddressCandidate,
    CatalogResource,
    Correction,
    FeedConflict,
    Grid,
    House,
    Person,
    Task,
)
from tasks.decide import decide_correction
from tasks.generate import generate, request_verification
from tasks.records import RECORDS
from tasks.resolve import Change, Outcome, WritePlan, resolve_task

PEOPLE = Person.__table__
HOUSES = House.__table__
TASKS = Task.__table__
#: The feed the demo's unplaced addresses came from, each observing department's, and the run.
FEED = "GA-RK-FEED"
FEED_OF = {"public_security": FEED, "civil_affairs": "MZ-RK-ROSTER"}
RUN = 0
#: How long the demo's houses stay verified (the housing resources' recheck period).
RECHECK_DAYS = 365


@dataclass(frozen=True, slots=True)
class DemoWork:
    raised: int
    resolved: int


def _nth(table: Table, key: str, n: int) -> Subquery:
    """The rows that are the ``n``-th of their grid by key."""
    ranked = select(
        table.c[key].label("key"),
        table.c.grid_code.label("grid_code"),
        func.row_number().over(partition_by=table.c.grid_code, order_by=table.c[key]).label("n"),
    ).subquery()
    return select(ranked.c.key, ranked.c.grid_code).where(ranked.c.n == n).subquery()


async def _conflicts(connection: AsyncConnection, now: datetime) -> None:
    try:
        authority = await authoritative_department(connection, "people", "residenceKind")
    except NoAuthority:
        return
    # The department that disagrees: public security's feed, or where public security is the
    # authority, civil affairs' roster.
    observer = "civil_affairs" if authority == "public_security" else "public_security"
    chosen = _nth(PEOPLE, "id", 3)
    kind = PEOPLE.c.residence_kind
    await connection.execute(
        insert(FeedConflict.__table__).from_select(
            [
                "target",
                "row_key",
                "field",
                "grid_code",
                "authoritative_department",
                "authoritative_value",
                "observed_department",
                "observed_value",
                "feed",
                "run_id",
                "observed_at",
                "status",
            ],
            select(
                literal("people"),
                cast(PEOPLE.c.id, String),
                literal("residenceKind"),
                PEOPLE.c.grid_code,
                literal(authority),
                func.upper(kind),
                literal(observer),
                case((kind == "renter", literal("OWNER")), else_=literal("RENTER")),
                literal(FEED_OF[observer]),
                literal(RUN),
                literal(now, FeedConflict.__table__.c.observed_at.type),
                literal("open"),
            ).select_from(PEOPLE.join(chosen, chosen.c.key == PEOPLE.c.id)),
        )
    )


async def _unplaced(connection: AsyncConnection, now: datetime) -> None:
    chosen = _nth(PEOPLE, "id", 7)
    candidates = (
        literal('[{"house_code": "')
        + HOUSES.c.code
        + literal('", "room_code": null, "grid_code": "')
        + HOUSES.c.grid_code
        + literal('", "score": 0.71}]')
    )
    await connection.execute(
        insert(AddressCandidate.__table__).from_select(
            ["feed", "run_id", "target", "row_key", "raw_address", "candidates", "grid_code"]
            + ["created_at", "status"],
            select(
                literal(FEED),
                literal(RUN),
                literal("people"),
                cast(PEOPLE.c.id, String),
                func.substr(HOUSES.c.address, 4) + literal("旁出租屋"),
                candidates,
                HOUSES.c.grid_code,
                literal(now, AddressCandidate.__table__.c.created_at.type),
                literal("open"),
            ).select_from(
                PEOPLE.join(chosen, chosen.c.key == PEOPLE.c.id).join(
                    HOUSES, HOUSES.c.code == PEOPLE.c.house_code
                )
            ),
        )
    )


async def _stale(connection: AsyncConnection, now: datetime) -> None:
    chosen = _nth(HOUSES, "code", 2)
    long_ago = now - timedelta(days=RECHECK_DAYS + 30)
    await connection.execute(
        update(HOUSES)
        .where(HOUSES.c.code.in_(select(chosen.c.key)))
        .values(verified_at=long_ago, source_at=long_ago, updated_at=long_ago)
    )
    resources = CatalogResource.__table__
    await connection.execute(
        update(resources)
        .where(resources.c.graphql_type == "House")
        .values(recheck_days=RECHECK_DAYS)
    )


async def _requests(connection: AsyncConnection, now: datetime) -> int:
    chosen = _nth(HOUSES, "code", 1)
    rows = (await connection.execute(select(chosen.c.key, chosen.c.grid_code))).all()
    for code, grid in rows:
        await request_verification(
            connection,
            record=RECORDS["houses"],
            row_key=str(code),
            grid_code=str(grid),
            department="housing",
            raised_by="housing-app",
            why="租赁备案信息待核实：请核实楼栋层数与用途",
            now=now,
        )
    return len(rows)


async def seed_tasks(engine: AsyncEngine, now: datetime, issuer: str) -> DemoWork:
    """Leave the demo's findings and requests, raise their tasks, and do some of the work."""
    async with engine.begin() as connection:
        await _conflicts(connection, now)
        await _unplaced(connection, now)
        await _stale(connection, now)
        await _requests(connection, now)
        report = await generate(connection, now)
    raised = report.total + int(await _count(engine, TASKS.c.kind == "request"))
    resolved = await _resolve_some(engine, now + timedelta(hours=2), issuer)
    return DemoWork(raised, resolved)


async def _count(engine: AsyncEngine, where: ColumnElement[bool]) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).where(where)) or 0)


async def _resolve_some(engine: AsyncEngine, now: datetime, issuer: str) -> int:
    """In each community's first grid, its worker settles three tasks as on site."""
    grids = Grid.__table__
    access = Access.create(engine)
    async with engine.connect() as connection:
        communities = (
            await connection.execute(
                select(grids.c.parent_code, func.min(grids.c.code))
                .where(grids.c.level == "grid")
                .group_by(grids.c.parent_code)
                .order_by(grids.c.parent_code)
            )
        ).all()
    done = 0
    for _, grid in communities:
        worker = f"worker-{grid}"
        async with engine.connect() as connection:
            plan = await access.plan_for(
                Identity(worker, "person", None, issuer, None), None, connection
            )
            tasks = {
                str(row.kind): row
                for row in (
                    await connection.execute(
                        select(TASKS).where(TASKS.c.grid_code == grid).order_by(TASKS.c.id)
                    )
                ).all()
            }
            conflicts = FeedConflict.__table__
            observed = {
                str(row.row_key): str(row.observed_value)
                for row in await connection.execute(
                    select(conflicts.c.row_key, conflicts.c.observed_value).where(
                        conflicts.c.grid_code == grid, conflicts.c.run_id == RUN
                    )
                )
            }
            houses = {
                str(row.code): row
                for row in (
                    await connection.execute(select(HOUSES).where(HOUSES.c.grid_code == grid))
                ).all()
            }

        if (stale := tasks.get("recheck")) is not None:
            done += await _settle(
                engine, plan, worker, now, stale, Outcome.CONFIRMED, "现场核实无误", []
            )
        if (conflict := tasks.get("conflict")) is not None:
            found = observed.get(str(conflict.row_key))
            if found is not None:
                change = [Change("residenceKind", found)]
                done += await _settle(
                    engine,
                    plan,
                    worker,
                    now,
                    conflict,
                    Outcome.CORRECTED,
                    "住户出示租赁合同",
                    change,
                )
        if (asked := tasks.get("request")) is not None and asked.row_key in houses:
            floors = str(int(houses[asked.row_key].floors) + 1)
            done += await _settle(
                engine,
                plan,
                worker,
                now,
                asked,
                Outcome.CORRECTED,
                "加建一层",
                [Change("floors", floors)],
            )
    return done


async def _settle(
    engine: AsyncEngine,
    plan: WritePlan,
    worker: str,
    now: datetime,
    task: Any,
    outcome: Outcome,
    note: str,
    changes: list[Change],
) -> bool:
    """Resolve as the worker (and let the departments accept a conflict's correction), in a
    transaction of its own: a task the data does not allow is left open."""
    try:
        async with engine.begin() as connection:
            made = await resolve_task(
                connection,
                plan,
                subject=worker,
                task_id=int(task.id),
                outcome=outcome,
                changes=changes,
                note=note,
                now=now,
            )
            if task.kind == "conflict":
                await _accept(connection, made.correction_ids, now + timedelta(hours=1))
    except GridhubError:
        return False
    return True


async def _accept(connection: AsyncConnection, corrections: tuple[int, ...], now: datetime) -> None:
    """The authoritative department's officer accepts the worker's corrections."""
    table = Correction.__table__
    for correction in corrections:
        department = str(
            await connection.scalar(select(table.c.department).where(table.c.id == correction))
        )
        await decide_correction(
            connection,
            correction_id=correction,
            department=department,
            subject=f"officer-{department.replace('_', '-')}",
            accept=True,
            reason=None,
            now=now,
        )
