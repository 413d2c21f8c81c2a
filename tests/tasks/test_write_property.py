"""No sequence of calls lets a principal write what its plan does not allow.

Drawn sequences of resolutions (any principal, any task, any outcome, any field with a valid
value) and decisions (any department, any correction) run against the real database under the
principals' compiled plans. Whatever succeeded or was refused, afterwards every correction was
proposed on a record its proposer's plan shows, of a field that plan lets it write there, and
every change to a shared row came from a correction its authoritative department accepted.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District
from policies.plan import AccessPlan, compile_plan
from policies.principal import load_principal
from policies.store import PolicyStore
from store.errors import GridhubError
from store.models import Correction, RowChange
from tasks.decide import decide_correction
from tasks.generate import request_verification
from tasks.records import RECORDS
from tasks.resolve import Change, Outcome, resolve_task
from tests.tasks.conftest import NOW, Findings, clean

SUBJECTS = [
    "worker-440306001001001",
    "worker-440306001001002",
    "community-440306001001",
    "street-440306002",
    "housing-app",
    "officer-housing",
]
DEPARTMENTS = ["housing", "public_security", "civil_affairs", "grid_office"]
GRIDS = ["440306001001001", "440306001001002", "440306002001001"]
#: Fields to try, with a valid value each (some no plan here lets anyone write).
TRIES = {
    "people": [
        ("name", "张三"),
        ("gender", "FEMALE"),
        ("residenceKind", "DORMITORY"),
        ("registration", "LOCAL"),
        ("phone", "13912345678"),
        ("birthDate", "1990-01-01"),
        ("idNumber", "440306199001011234"),
    ],
    "houses": [("use", "OFFICE"), ("floors", "33"), ("builtYear", "1999"), ("address", "x")],
}

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("resolve"),
            st.integers(0, len(SUBJECTS) - 1),
            st.integers(0, 5),
            st.sampled_from(list(Outcome)),
            st.lists(st.integers(0, 6), max_size=3),
        ),
        st.tuples(
            st.just("decide"),
            st.integers(0, len(DEPARTMENTS) - 1),
            st.integers(0, 5),
            st.booleans(),
            st.just([]),
        ),
    ),
    min_size=1,
    max_size=10,
)


async def _plans(engine: AsyncEngine) -> dict[str, AccessPlan]:
    store = PolicyStore(engine)
    plans = {}
    async with engine.connect() as connection:
        for subject in SUBJECTS:
            principal = await load_principal(connection, subject)
            assert principal is not None
            plans[subject] = await compile_plan(store, principal, None)
    return plans


def _records(district: District) -> list[tuple[str, str, str]]:
    """Two records per grid: a person and a house."""
    found = []
    for grid in GRIDS:
        person = next(p for p in district.people if p["grid_code"] == grid)
        house = next(h for h in district.houses if h["grid_code"] == grid)
        found += [("people", str(person["id"]), grid), ("houses", str(house["code"]), grid)]
    return found


async def _snapshot(engine: AsyncEngine, records: list[tuple[str, str, str]]) -> list[Any]:
    rows = []
    async with engine.connect() as connection:
        for target, key, _ in records:
            record = RECORDS[target]
            table = record.model.__table__
            row = (
                (
                    await connection.execute(
                        select(table).where(table.c[record.key_name] == record.key_value(key))
                    )
                )
                .mappings()
                .one()
            )
            rows.append((record, key, dict(row)))
    return rows


async def _restore(engine: AsyncEngine, rows: list[Any]) -> None:
    async with engine.begin() as connection:
        for record, key, values in rows:
            table = record.model.__table__
            await connection.execute(
                update(table)
                .where(table.c[record.key_name] == record.key_value(key))
                .values({k: v for k, v in values.items() if k != record.key_name})
            )
        await connection.execute(RowChange.__table__.delete())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=steps)
async def test_no_sequence_of_calls_writes_beyond_the_plan(
    engine: AsyncEngine, findings: Findings, district: District, drawn: list[Any]
) -> None:
    await clean(engine)
    plans = await _plans(engine)
    records = _records(district)
    before = await _snapshot(engine, records)
    task_ids = []
    async with engine.begin() as connection:
        for target, key, grid in records:
            made = await request_verification(
                connection,
                record=RECORDS[target],
                row_key=key,
                grid_code=grid,
                department="grid_office",
                raised_by="property",
                why="property",
                now=NOW,
            )
            task_ids.append(made.task_id)
    try:
        for kind, who, which, choice, fields in drawn:
            try:
                async with engine.begin() as connection:
                    if kind == "resolve":
                        subject = SUBJECTS[who]
                        target = records[which][0]
                        tries = TRIES[target]
                        changes = [Change(*tries[i % len(tries)]) for i in dict.fromkeys(fields)]
                        await resolve_task(
                            connection,
                            plans[subject],
                            subject=subject,
                            task_id=task_ids[which],
                            outcome=choice,
                            changes=changes if choice is Outcome.CORRECTED else [],
                            now=NOW,
                        )
                    else:
                        corrections = list(
                            await connection.scalars(
                                select(Correction.__table__.c.id).order_by(
                                    Correction.__table__.c.id
                                )
                            )
                        )
                        if corrections:
                            await decide_correction(
                                connection,
                                correction_id=corrections[which % len(corrections)],
                                department=DEPARTMENTS[who],
                                subject=f"officer-{DEPARTMENTS[who]}",
                                accept=choice,
                                reason="checked",
                                now=NOW,
                            )
            except GridhubError:
                pass  # refused: the transaction wrote nothing
        async with engine.connect() as connection:
            corrections = list((await connection.execute(select(Correction.__table__))).mappings())
            history = list((await connection.execute(select(RowChange.__table__))).mappings())
        for correction in corrections:
            plan = plans[correction["proposed_by"]]
            record = RECORDS[correction["target"]]
            assert plan.resource(record.resource).visible(correction["grid_code"])
            if correction["kind"] == "finding":  # a fact about the record: no field written
                assert correction["field"] is None
                continue
            assert correction["field"] in plan.writable(
                record.graphql_type, correction["grid_code"]
            ), (correction["proposed_by"], correction["field"])
        accepted = {f"correction:{c['id']}": c for c in corrections if c["status"] == "accepted"}
        for change in history:
            source = accepted[change["source_ref"]]
            assert change["department"] == source["department"]
            assert (change["field"], change["row_key"]) == (source["field"], source["row_key"])
        # Nothing else moved: every value is the snapshot's or an accepted correction's.
        after = await _snapshot(engine, records)
        changed_fields = {(c["row_key"], c["field"]) for c in accepted.values()}
        for (record, key, old), (_, _, new) in zip(before, after, strict=True):
            for column, value in new.items():
                if column in (
                    "updated_at",
                    "verified_at",
                    "source_department",
                    "source_feed",
                    "source_run",
                    "source_at",
                ):
                    continue
                if value != old[column]:
                    assert any(key == k for k, _ in changed_fields), (record.target, column)
    finally:
        await _restore(engine, before)
        await clean(engine)
