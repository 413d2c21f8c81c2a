"""Every root query and nested field returns what the seeded district holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from demo import District
from resolvers.ids import to_global_id
from tests.conftest import GraphQL
from tests.support import data_of, nodes


def _by(rows: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


async def test_the_district_has_its_streets_as_children(gql: GraphQL, district: District) -> None:
    # given the district's code
    top = next(g for g in district.grids if g["level"] == "district")
    # when its grid is asked with children and geometry
    body = await gql(
        """query($code: String!) { grid(code: $code) {
            code name level parent { code } geometry
            children { code level parent { code } } } }""",
        {"code": top["code"]},
    )
    grid = data_of(body)["grid"]
    # then it is the top of the hierarchy, its children are its streets in code order
    assert grid["name"] == top["name"]
    assert grid["level"] == "DISTRICT"
    assert grid["parent"] is None
    assert grid["geometry"]["type"] == "Polygon"
    streets = sorted(g["code"] for g in _by(district.grids, parent_code=top["code"]))
    assert [c["code"] for c in grid["children"]] == streets
    assert {c["level"] for c in grid["children"]} == {"STREET"}
    assert {c["parent"]["code"] for c in grid["children"]} == {top["code"]}


async def test_grids_by_level_and_parent(gql: GraphQL, district: District) -> None:
    community = next(g for g in district.grids if g["level"] == "community")
    body = await gql(
        """query($p: String!) { grids(level: GRID, parentCode: $p, first: 100) {
            totalCount edges { node { code level } } } }""",
        {"p": community["code"]},
    )
    grids = data_of(body)["grids"]
    expected = sorted(g["code"] for g in _by(district.grids, parent_code=community["code"]))
    assert [n["code"] for n in nodes(grids)] == expected
    assert grids["totalCount"] == len(expected)
    everything = data_of(await gql("{ grids(first: 500) { totalCount } }"))["grids"]
    assert everything["totalCount"] == len(district.grids)


async def test_a_grids_houses_with_their_residents(gql: GraphQL, district: District) -> None:
    # given a grid with houses and residents
    grid = next(g for g in district.grids if g["level"] == "grid")
    houses = sorted(_by(district.houses, grid_code=grid["code"]), key=lambda h: h["code"])
    # when a grid worker asks for its houses with their residents
    body = await gql(
        """query($code: String!) { grid(code: $code) { houses(first: 100) {
            totalCount edges { node { code address use floors location gridCode
              residents(first: 50) { totalCount edges { node { name idNumber } } } } } } } }""",
        {"code": grid["code"]},
    )
    got = data_of(body)["grid"]["houses"]
    # then every house of the grid is there, in code order, each with its residents
    assert got["totalCount"] == len(houses)
    assert [h["code"] for h in nodes(got)] == [h["code"] for h in houses]
    for house, node in zip(houses, nodes(got), strict=True):
        assert node["address"] == house["address"]
        assert node["use"] == house["use"].upper()
        assert node["location"] == {"type": "Point", "coordinates": [house["lon"], house["lat"]]}
        residents = sorted(_by(district.people, house_code=house["code"]), key=lambda p: p["id"])
        assert node["residents"]["totalCount"] == len(residents)
        assert [r["idNumber"] for r in nodes(node["residents"])] == [
            p["id_number"] for p in residents
        ]


async def test_house_by_code_with_rooms_entities_and_events(
    gql: GraphQL, district: District
) -> None:
    house = next(h for h in district.houses if _by(district.events, house_code=h["code"]))
    body = await gql(
        """query($code: String!) { house(code: $code) {
            id code builtYear grid { code }
            rooms { code number floor areaM2 }
            entities(first: 100) { totalCount edges { node { creditCode } } }
            events(first: 100) { totalCount edges { node { id } } } } }""",
        {"code": house["code"]},
    )
    got = data_of(body)["house"]
    assert got["id"] == to_global_id("House", house["code"])
    assert got["builtYear"] == house["built_year"]
    assert got["grid"]["code"] == house["grid_code"]
    rooms = sorted(_by(district.rooms, house_code=house["code"]), key=lambda r: r["code"])
    assert [r["code"] for r in got["rooms"]] == [r["code"] for r in rooms]
    entities = sorted(e["credit_code"] for e in _by(district.entities, house_code=house["code"]))
    assert [e["creditCode"] for e in nodes(got["entities"])] == entities
    events = sorted(e["id"] for e in _by(district.events, house_code=house["code"]))
    assert [e["id"] for e in nodes(got["events"])] == [to_global_id("Event", i) for i in events]
    assert got["events"]["totalCount"] == len(events)


async def test_person_by_id_with_house_room_and_employer(gql: GraphQL, district: District) -> None:
    person = next(p for p in district.people if p["employer_code"] and p["room_code"])
    body = await gql(
        """query($id: ID!) { person(id: $id) {
            id name idNumber phone gender birthDate age registration residenceKind careTags
            gridCode house { code } room { code } employer { creditCode } } }""",
        {"id": to_global_id("Person", person["id"])},
    )
    got = data_of(body)["person"]
    assert got["idNumber"] == person["id_number"]
    assert got["birthDate"] == person["birth_date"].isoformat()
    assert got["gender"] == person["gender"].upper()
    assert got["house"]["code"] == person["house_code"]
    assert got["room"]["code"] == person["room_code"]
    assert got["employer"]["creditCode"] == person["employer_code"]
    assert isinstance(got["age"], int)


async def test_entity_with_its_representative_and_employees(
    gql: GraphQL, district: District
) -> None:
    employers = {p["employer_code"] for p in district.people if p["employer_code"]}
    entity = next(e for e in district.entities if e["credit_code"] in employers)
    body = await gql(
        """query($code: String!) { entity(creditCode: $code) {
            creditCode name type status industry establishedOn registeredAddress
            legalRepresentative { id } house { code } grid { code }
            employees(first: 500) { totalCount edges { node { id } } } } }""",
        {"code": entity["credit_code"]},
    )
    got = data_of(body)["entity"]
    assert got["name"] == entity["name"]
    assert got["legalRepresentative"]["id"] == to_global_id(
        "Person", entity["legal_representative_id"]
    )
    assert got["house"]["code"] == entity["house_code"]
    assert got["grid"]["code"] == entity["grid_code"]
    employees = sorted(p["id"] for p in _by(district.people, employer_code=entity["credit_code"]))
    assert got["employees"]["totalCount"] == len(employees)
    assert [n["id"] for n in nodes(got["employees"])] == [
        to_global_id("Person", i) for i in employees
    ]


async def test_event_by_id_with_its_matter_and_department(gql: GraphQL, district: District) -> None:
    event = next(e for e in district.events if e["closed_at"] and e["house_code"])
    matter = next(m for m in district.matters if m["code"] == event["category_code"])
    body = await gql(
        """query($id: ID!) { event(id: $id) {
            source status description reporter reportedAt dispatchedAt closedAt deadline overdue
            location category { code name timeLimitHours department { code } }
            handlingDepartment { code name } grid { code } house { code } } }""",
        {"id": to_global_id("Event", event["id"])},
    )
    got = data_of(body)["event"]
    assert got["category"]["name"] == matter["name"]
    assert got["category"]["department"]["code"] == matter["department_code"]
    assert got["handlingDepartment"]["code"] == event["handling_department_code"]
    assert got["house"]["code"] == event["house_code"]
    assert datetime.fromisoformat(got["reportedAt"]) == event["reported_at"]
    assert datetime.fromisoformat(got["reportedAt"]).tzinfo is not None
    assert got["overdue"] == (event["closed_at"] > event["deadline"])
    assert got["location"]["coordinates"] == [event["lon"], event["lat"]]


async def test_node_finds_every_type_by_global_id(gql: GraphQL, district: District) -> None:
    ids = {
        "Grid": district.grids[0]["code"],
        "House": district.houses[0]["code"],
        "Person": district.people[0]["id"],
        "Entity": district.entities[0]["credit_code"],
        "Event": district.events[0]["id"],
    }
    for type_name, key in ids.items():
        global_id = to_global_id(type_name, key)
        body = await gql("query($id: ID!) { node(id: $id) { __typename id } }", {"id": global_id})
        assert data_of(body)["node"] == {"__typename": type_name, "id": global_id}


async def test_departments_and_the_matter_list(gql: GraphQL, district: District) -> None:
    body = data_of(
        await gql("{ departments { code name } matters { code name department { code } } }")
    )
    assert sorted(d["code"] for d in body["departments"]) == sorted(
        d["code"] for d in district.departments
    )
    assert len(body["matters"]) == len(district.matters)
    assert all(m["department"] is not None for m in body["matters"])


async def test_grid_stats_count_what_lies_in_the_area(gql: GraphQL, district: District) -> None:
    for grid in district.grids:
        code = grid["code"]
        body = await gql(
            """query($c: String!) { grid(code: $c) {
                stats { houses people entities events openEvents } } }""",
            {"c": code},
        )
        stats = data_of(body)["grid"]["stats"]
        under = {
            name: [r for r in getattr(district, name) if r["grid_code"].startswith(code)]
            for name in ("houses", "people", "entities", "events")
        }
        assert stats == {
            "houses": len(under["houses"]),
            "people": len(under["people"]),
            "entities": len(under["entities"]),
            "events": len(under["events"]),
            "openEvents": sum(e["status"] not in ("resolved", "closed") for e in under["events"]),
        }


async def test_overdue_runs_until_closing(gql: GraphQL, district: District) -> None:
    # given a fixed "now" a few days after the data was made
    now = datetime(2026, 11, 3, 12, tzinfo=ZoneInfo("Asia/Shanghai"))

    def late(e: dict[str, Any]) -> bool:
        if e["closed_at"] is not None:
            return bool(e["closed_at"] > e["deadline"])
        return now > e["deadline"]

    query = """query($late: Boolean) { events(filter: {overdue: $late}, first: 500) {
        totalCount edges { node { id overdue status } } } }"""
    # when the overdue and the not-overdue events are listed
    overdue = data_of(await gql(query, {"late": True}, now=now))["events"]
    on_time = data_of(await gql(query, {"late": False}, now=now))["events"]
    # then they split the events exactly as the rule says, and the field agrees with the filter
    expected = {to_global_id("Event", e["id"]) for e in district.events if late(e)}
    assert {n["id"] for n in nodes(overdue)} == expected
    assert overdue["totalCount"] + on_time["totalCount"] == len(district.events)
    assert all(n["overdue"] for n in nodes(overdue))
    assert not any(n["overdue"] for n in nodes(on_time))
    assert any(e["closed_at"] is None for e in district.events if late(e)), "an open one is late"


async def test_a_rooms_residents_and_a_persons_grid(gql: GraphQL, district: District) -> None:
    person = next(p for p in district.people if p["room_code"])
    body = await gql(
        """query($id: ID!) { person(id: $id) { grid { code level }
            room { code residents { totalCount edges { node { id } } } } } }""",
        {"id": to_global_id("Person", person["id"])},
    )
    got = data_of(body)["person"]
    assert got["grid"] == {"code": person["grid_code"], "level": "GRID"}
    roommates = sorted(p["id"] for p in _by(district.people, room_code=person["room_code"]))
    assert [n["id"] for n in nodes(got["room"]["residents"])] == [
        to_global_id("Person", i) for i in roommates
    ]
    assert got["room"]["residents"]["totalCount"] == len(roommates)
