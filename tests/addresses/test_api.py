"""matchAddress, address, addresses, the addressSearch filter and teachAddressAlias over
GraphQL, on the seeded database, with real plans: what a caller may not read does not exist."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from demo import District
from hub.app import create_app
from hub.settings import Settings
from store.models import AddressAlias, AuditEntry
from tests.conftest import GraphQL, StatementCounter
from tests.support import data_of, error_codes, nodes

GRID = "440306001001001"
OTHER_GRID = "440306002001001"
WORKER = f"worker-{GRID}"
STREET = "street-440306001"

MATCH = """query Match($text: String!, $area: String) {
  matchAddress(text: $text, areaCode: $area) {
    accepted method threshold
    components { road number estate building floor room }
    candidates { confidence method standardAddress house { code address } room { code number } }
  }
}"""


def in_grid(district: District, grid: str, room: bool = True) -> dict[str, Any]:
    return next(
        row
        for row in district.addresses
        if row["grid_code"] == grid and (row["room_code"] is not None) == room and row["building"]
    )


def department_spelling(row: dict[str, Any]) -> str:
    """How a department writes it: city prefix, full-width digits, 幢 for 栋, floor and 房."""
    wide = str.maketrans("0123456789", "０１２３４５６７８９")
    room = f"{row['floor']}楼{row['room']}房" if row["room"] else ""
    building = row["building"].replace("栋", "幢")
    return f"深圳市宝安区{row['road']}{row['number']}号{row['estate']} {building}{room}".translate(
        wide
    )


async def test_a_worker_matches_a_department_string_in_their_grid(
    gql: GraphQL, district: District
) -> None:
    row = in_grid(district, GRID)
    body = await gql(MATCH, {"text": department_spelling(row)}, as_=WORKER)
    match = data_of(body)["matchAddress"]
    assert match["accepted"]
    assert match["method"] == "COMPONENTS"
    assert match["components"]["road"] == row["road"]
    best = match["candidates"][0]
    assert best["house"]["code"] == row["house_code"]
    assert best["room"] is None or best["room"]["code"] in (row["code"], None)
    assert best["standardAddress"].startswith(row["text"][: -len(row["room"]) - 1])
    assert 0.9 <= best["confidence"] <= 1


async def test_a_worker_matching_an_address_in_another_grid_gets_nothing(
    gql: GraphQL, district: District
) -> None:
    row = in_grid(district, OTHER_GRID)
    for text in (row["text"], department_spelling(row)):
        match = data_of(await gql(MATCH, {"text": text}, as_=WORKER))["matchAddress"]
        assert not match["accepted"]
        assert all(c["house"]["code"].startswith(GRID) for c in match["candidates"]), match[
            "candidates"
        ]
        assert row["house_code"] not in str(match)
    # The same text matches for the street staff who may read that grid.
    match = data_of(await gql(MATCH, {"text": row["text"]}, as_="street-440306002"))
    assert match["matchAddress"]["candidates"][0]["house"]["code"] == row["house_code"]


async def test_the_area_argument_narrows_the_base(gql: GraphQL, district: District) -> None:
    row = in_grid(district, GRID)
    match = data_of(await gql(MATCH, {"text": row["text"], "area": OTHER_GRID}))["matchAddress"]
    assert match["candidates"] == [] or all(
        c["house"]["code"].startswith(OTHER_GRID) for c in match["candidates"]
    )
    match = data_of(await gql(MATCH, {"text": row["text"], "area": GRID}))["matchAddress"]
    assert match["method"] == "EXACT"


async def test_a_callers_grids_are_read_once_per_plan_and_per_area(
    gql: GraphQL, district: District, statements: StatementCounter
) -> None:
    """The grids where the caller reads houses and rooms are one statement, kept with the
    plan: the next match reads none, and a match narrowed to an area reads that area's once.
    What each answer holds stays the caller's and the area's."""
    row = in_grid(district, GRID, room=False)
    other = in_grid(district, OTHER_GRID, room=False)
    street = "street-440306001"
    for area, text, found in [
        (None, row["text"], row["house_code"]),
        (None, other["text"], None),  # outside the street
        (GRID, row["text"], row["house_code"]),
        ("440306001002", row["text"], None),  # another community of the street
        (None, row["text"], row["house_code"]),
    ]:
        reads = []
        for _ in range(2):
            with statements:
                body = await gql(MATCH, {"text": text, "area": area}, as_=street)
            reads.append(sum("FROM grids" in s for s in statements.statements))
            codes = [c["house"]["code"] for c in data_of(body)["matchAddress"]["candidates"]]
            if found is None:
                assert all(code.startswith(area or "440306001") for code in codes), codes
                assert other["house_code"] not in codes
            else:
                assert codes[0] == found
        # At most one statement the first time (none if the plan had read the area before).
        assert reads[0] <= 1, (area, reads)
        assert reads[1] == 0, (area, reads)


@pytest.mark.parametrize(
    ("variables", "code"),
    [
        ({"text": ""}, "BAD_USER_INPUT"),
        ({"text": "路" * 201}, "BAD_USER_INPUT"),
        ({"text": "新安六路", "area": "44x"}, "BAD_USER_INPUT"),
        ({"text": "新安六路\x00246号"}, "BAD_USER_INPUT"),
    ],
)
async def test_bad_input_is_a_clear_error(
    gql: GraphQL, variables: dict[str, Any], code: str
) -> None:
    assert error_codes(await gql(MATCH, variables, as_=WORKER)) == [code]


ADDRESS = """query A($code: String!) { address(code: $code) {
  code text components { road number estate building floor room } house { code } room { code }
} }"""


async def test_a_standard_address_by_code_only_where_it_may_be_read(
    gql: GraphQL, district: District
) -> None:
    row = in_grid(district, GRID)
    found = data_of(await gql(ADDRESS, {"code": row["code"]}))["address"]
    assert found["text"] == row["text"]
    assert found["components"]["room"] == row["room"]
    assert found["room"]["code"] == row["code"]
    other = in_grid(district, OTHER_GRID, room=False)
    assert data_of(await gql(ADDRESS, {"code": other["code"]}, as_=WORKER))["address"] is None
    own = in_grid(district, GRID, room=False)
    assert data_of(await gql(ADDRESS, {"code": own["code"]}, as_=WORKER))["address"]["house"]


SEARCH = """query S($search: String!, $area: String, $after: String) {
  addresses(search: $search, areaCode: $area, first: 5, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { code text } }
  }
}"""


async def test_search_is_normalised_and_paged(gql: GraphQL, district: District) -> None:
    village = next(r for r in district.addresses if "巷" in r["estate"])
    lane = village["estate"][village["estate"].index("巷") - 1 :]  # e.g. 九巷
    digits = lane.replace(lane[0], str("一二三四五六七八九十".index(lane[0]) + 1))
    first = data_of(await gql(SEARCH, {"search": digits}))["addresses"]
    expected = [r["code"] for r in district.addresses if lane in r["text"]]
    assert first["totalCount"] == len(expected)
    assert [n["code"] for n in nodes(first)] == sorted(expected)[:5]
    if first["pageInfo"]["hasNextPage"]:
        after = first["pageInfo"]["endCursor"]
        second = data_of(await gql(SEARCH, {"search": digits, "after": after}))["addresses"]
        assert [n["code"] for n in nodes(second)] == sorted(expected)[5:10]


async def test_search_leaves_out_what_the_caller_may_not_read(
    gql: GraphQL, district: District
) -> None:
    row = in_grid(district, OTHER_GRID, room=False)
    found = data_of(await gql(SEARCH, {"search": row["text"]}, as_=WORKER))["addresses"]
    assert found["totalCount"] == 0
    assert found["edges"] == []


HOUSES = """query H($search: String!) { houses(first: 100, filter: {addressSearch: $search}) {
  totalCount edges { node { code address } } } }"""


async def test_the_house_filter_finds_9_lane_as_well_as_nine_lane(
    gql: GraphQL, district: District
) -> None:
    village = next(r for r in district.addresses if "巷" in r["estate"] and r["room"] is None)
    estate = village["estate"]  # 建安村九巷
    lane = estate[estate.index("巷") - 1]
    with_digit = estate.replace(lane + "巷", f"{'一二三四五六七八九十'.index(lane) + 1}巷")
    expected = {h["code"] for h in district.houses if estate in h["address"]}
    for search in (estate, with_digit, f"深圳市 {with_digit}"):
        houses = data_of(await gql(HOUSES, {"search": search}))["houses"]
        assert {h["code"] for h in nodes(houses)} == expected, search


TEACH = """mutation T($text: String!, $code: String!) {
  teachAddressAlias(text: $text, code: $code) { normalised address { code text } }
}"""


@pytest.fixture
async def no_aliases(engine: AsyncEngine) -> Iterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(AddressAlias))


@pytest.mark.usefixtures("no_aliases")
async def test_a_worker_teaches_an_alias_and_it_matches_next_time(
    gql: GraphQL, district: District
) -> None:
    row = in_grid(district, GRID, room=False)
    odd = "社区东门小卖部楼上"
    before = data_of(await gql(MATCH, {"text": odd}, as_=WORKER))["matchAddress"]
    assert not before["accepted"]
    taught = data_of(await gql(TEACH, {"text": odd, "code": row["code"]}, as_=WORKER))
    assert taught["teachAddressAlias"]["address"]["code"] == row["code"]
    after = data_of(await gql(MATCH, {"text": f" {odd}。"}, as_=WORKER))["matchAddress"]
    assert (after["accepted"], after["method"]) == (True, "ALIAS")
    assert after["candidates"][0]["house"]["code"] == row["code"]
    # Another grid's worker does not learn of it.
    elsewhere = data_of(await gql(MATCH, {"text": odd}, as_=f"worker-{OTHER_GRID}"))
    assert elsewhere["matchAddress"]["candidates"] == []


@pytest.mark.usefixtures("no_aliases")
async def test_no_alias_to_an_address_outside_the_teachers_area_nor_by_an_app(
    gql: GraphQL, district: District
) -> None:
    other = in_grid(district, OTHER_GRID, room=False)
    body = await gql(TEACH, {"text": "别处", "code": other["code"]}, as_=WORKER)
    assert error_codes(body) == ["FORBIDDEN"]
    body = await gql(TEACH, {"text": "别处", "code": "no-such-code"}, as_=WORKER)
    assert error_codes(body) == ["FORBIDDEN"]  # the same answer: no oracle for codes
    body = await gql(TEACH, {"text": "别处", "code": other["code"]}, as_="housing-app")
    assert error_codes(body) == ["FORBIDDEN"]
    own = in_grid(district, GRID, room=False)
    body = await gql(TEACH, {"text": "东门\x00", "code": own["code"]}, as_=WORKER)
    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


async def test_a_match_is_audited_like_any_read(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str], district: District
) -> None:
    row = in_grid(district, GRID)
    response = client.post(
        "/graphql",
        json={"query": MATCH, "variables": {"text": row["text"]}, "operationName": "Match"},
        headers={"authorization": f"Bearer {token_for(WORKER)}"},
    )
    data_of(response.json())
    async with engine.connect() as connection:
        entry = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["x-request-id"])
            )
        ).one()
    assert entry.subject == WORKER
    assert entry.operation_name == "Match"
    assert entry.variables == {"text": row["text"]}
    reads = {(r["type"], r["field"]) for r in entry.reads}
    assert {("House", "code"), ("House", "address")} <= reads
    assert entry.row_counts["House"] >= 1


async def test_an_app_whose_room_codes_need_a_purpose_matches_at_house_level(
    gql: GraphQL, district: District
) -> None:
    row = in_grid(district, GRID)
    match = data_of(await gql(MATCH, {"text": row["text"]}, as_="housing-app"))["matchAddress"]
    best = match["candidates"][0]
    assert (best["house"]["code"], best["room"]) == (row["house_code"], None)
    assert best["standardAddress"] == row["text"][: -len(row["room"]) - 1]
    with_purpose = await gql(
        MATCH, {"text": row["text"]}, as_="housing-app", purpose="housing_management"
    )
    best = data_of(with_purpose)["matchAddress"]["candidates"][0]
    assert best["room"]["code"] == row["code"]
    assert best["standardAddress"] == row["text"]


async def test_a_worker_searching_their_grid_gets_houses_not_rooms_they_can_not_read(
    gql: GraphQL, district: District
) -> None:
    """Room codes are masked for grid workers: room addresses are left out of the page and
    the count alike, so what is counted is what is shown."""
    row = in_grid(district, GRID, room=False)
    query = SEARCH.replace("first: 5", "first: 100")
    found = data_of(await gql(query, {"search": row["estate"]}, as_=WORKER))["addresses"]
    codes = [n["code"] for n in nodes(found)]
    assert row["code"] in codes
    assert found["totalCount"] == len(codes)
    assert all(code in {h["code"] for h in district.houses} for code in codes)
    everything = data_of(await gql(query, {"search": row["estate"]}))["addresses"]
    assert everything["totalCount"] > len(codes)  # the open plan sees the rooms too
