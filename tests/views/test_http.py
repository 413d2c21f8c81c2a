"""``GET /views/{code}.geojson`` serves the layer ``mapView`` serves, to the same token, streamed;
every request (and every ``mapView``) leaves exactly one audit entry, committed first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from store.engine import create_engine
from store.models import AuditEntry
from tests.conftest import GraphQL
from tests.views.helpers import MAP, PATROL, STREET, WORKER_1, features, open_map
from views.features import LayerQuery


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(token: str, purpose: str | None = None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {token}"}
    if purpose:
        headers["x-access-purpose"] = purpose
    return headers


async def only_entry(engine: AsyncEngine, response: Any) -> Any:
    async with engine.connect() as connection:
        found = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["x-request-id"])
            )
        ).all()
    assert len(found) == 1, found
    return found[0]


LAYERS = [
    (PATROL, "houses", WORKER_1, None, {}),
    (PATROL, "open-events", STREET, None, {}),
    (PATROL, "residents", STREET, None, {"areaCode": "440306001001"}),
    (PATROL, "grids", WORKER_1, None, {"bbox": [113.8, 22.6, 113.9, 22.7]}),
    ("housing-public-rental", "public-rental", "housing-app", None, {}),
    ("public-security-floating", None, "public-security-app", None, {}),
    ("civil-affairs-elderly", "elderly-80", "civil-affairs-app", "elderly_care", {}),
]


def _query(layer: str | None, cut: dict[str, Any]) -> dict[str, str]:
    params = {"layer": layer} if layer else {}
    if "bbox" in cut:
        params["bbox"] = ",".join(str(v) for v in cut["bbox"])
    if "areaCode" in cut:
        params["areaCode"] = cut["areaCode"]
    return params


@pytest.mark.parametrize(("code", "layer", "subject", "purpose", "cut"), LAYERS)
async def test_the_url_serves_the_features_map_view_does(
    client: TestClient,
    gql: GraphQL,
    token_for: Callable[[str], str],
    code: str,
    layer: str | None,
    subject: str,
    purpose: str | None,
    cut: dict[str, Any],
) -> None:
    response = client.get(
        f"/views/{code}.geojson",
        params=_query(layer, cut),
        headers=bearer(token_for(subject), purpose),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    mapped = await open_map(gql, code, subject, purpose, **cut)
    expected = features(mapped, layer or "floating")
    assert body["features"] == expected


async def test_a_layer_is_streamed_page_by_page_to_the_same_features(
    client: TestClient, token_for: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, headers = f"/views/{PATROL}.geojson?layer=houses", bearer(token_for(STREET))
    whole = client.get(url, headers=headers).json()["features"]
    assert len(whole) > 20
    statements: list[Any] = []
    page = LayerQuery.page

    def counted(self: LayerQuery, after: Any, size: int) -> Any:
        statements.append(after)
        return page(self, after, size)

    monkeypatch.setattr(LayerQuery, "PAGE", 7)
    monkeypatch.setattr(LayerQuery, "page", counted)
    with client.stream("GET", url, headers=headers) as response:
        chunks = list(response.iter_bytes())
        text = b"".join(chunks)
    assert orjson.loads(text)["features"] == whole
    assert len(statements) >= len(whole) // 7, "one statement per page of seven"
    assert statements[0] is None
    assert len(set(statements)) == len(statements)


async def test_the_url_needs_a_token(client: TestClient, engine: AsyncEngine) -> None:
    for headers in ({}, bearer("not.a.token")):
        response = client.get(f"/views/{PATROL}.geojson?layer=houses", headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "features" not in response.text
        entry = await only_entry(engine, response)
        assert (entry.outcome, entry.error_code) == ("denied", "UNAUTHENTICATED")


REFUSALS = [
    (f"/views/{PATROL}.geojson", WORKER_1, None, 400, "BAD_USER_INPUT"),  # which layer?
    (f"/views/{PATROL}.geojson?layer=nothing", WORKER_1, None, 404, "NOT_FOUND"),
    ("/views/no-such-view.geojson", WORKER_1, None, 404, "NOT_FOUND"),
    (f"/views/{PATROL}.geojson?layer=houses&bbox=1,2,3", WORKER_1, None, 400, "BAD_USER_INPUT"),
    (f"/views/{PATROL}.geojson?layer=houses&bbox=a,b,c,d", WORKER_1, None, 400, "BAD_USER_INPUT"),
    (f"/views/{PATROL}.geojson?layer=houses&areaCode=44", WORKER_1, None, 400, "BAD_USER_INPUT"),
    (f"/views/{PATROL}.geojson?layer=houses", WORKER_1, "Not A Purpose", 400, "BAD_USER_INPUT"),
    (
        "/views/civil-affairs-elderly.geojson?layer=elderly-alone",
        WORKER_1,
        None,
        403,
        "PURPOSE_REQUIRED",
    ),
    (
        "/views/civil-affairs-elderly.geojson?layer=elderly-alone",
        "housing-app",
        "elderly_care",
        403,
        "FORBIDDEN",
    ),
]


@pytest.mark.parametrize(("url", "subject", "purpose", "status", "code"), REFUSALS)
async def test_a_refusal_is_a_graphql_shaped_error_and_audited(
    client: TestClient,
    engine: AsyncEngine,
    token_for: Callable[[str], str],
    url: str,
    subject: str,
    purpose: str | None,
    status: int,
    code: str,
) -> None:
    response = client.get(url, headers=bearer(token_for(subject), purpose))
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["errors"]
    assert body["errors"][0]["extensions"]["code"] == code
    assert body["errors"][0]["message"]
    entry = await only_entry(engine, response)
    assert entry.error_code == code
    assert entry.outcome == ("denied" if status == 403 else "error")
    assert entry.subject == subject


async def test_a_layer_request_is_audited_once_with_what_it_read(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    response = client.get(
        f"/views/{PATROL}.geojson",
        params={"layer": "open-events", "areaCode": "440306001001"},
        headers=bearer(token_for(STREET)),
    )
    served = response.json()["features"]
    entry = await only_entry(engine, response)
    assert (entry.subject, entry.department_code) == (STREET, "grid_office")
    assert entry.operation_name == "viewGeoJSON"
    assert entry.operation_type == "query"
    assert entry.variables == {"code": PATROL, "layer": "open-events", "areaCode": "440306001001"}
    assert entry.row_counts == {"Event": len(served)}
    assert entry.person_ids == []
    reads = {(r["type"], r["field"]): r["decision"] for r in entry.reads}
    assert reads[("Event", "categoryCode")] == "ALLOW"
    assert reads[("Event", "reporter")] == "MASK"
    assert reads[("Event", "location")] == "ALLOW"
    assert reads[("Event", "status")] == "ALLOW"  # the filter `open` reads it
    assert entry.outcome == "partial"  # the reporters were masked


async def test_a_count_of_people_reads_no_person_ids(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    response = client.get(
        f"/views/{PATROL}.geojson?layer=residents", headers=bearer(token_for(WORKER_1))
    )
    counts = [f["properties"]["count"] for f in response.json()["features"]]
    entry = await only_entry(engine, response)
    assert entry.person_ids == []
    assert entry.row_counts == {"House": len(counts), "Person": sum(counts)}
    assert ("Person", "house") in {(r["type"], r["field"]) for r in entry.reads}


async def test_map_view_is_audited_once_with_the_layers_reads(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    response = client.post(
        "/graphql",
        json={"query": MAP, "variables": {"code": PATROL}, "operationName": "Map"},
        headers=bearer(token_for(WORKER_1)),
    )
    body = response.json()
    assert "errors" not in body
    entry = await only_entry(engine, response)
    reads = {(r["type"], r["field"]): r["decision"] for r in entry.reads}
    assert reads[("House", "address")] == "ALLOW"
    assert reads[("Event", "reporter")] == "MASK"
    assert reads[("Person", "house")] == "ALLOW"
    layers = {layer["code"]: layer for layer in body["data"]["mapView"]["layers"]}
    residents = layers["residents"]["geojson"]["features"]
    assert entry.row_counts["House"] == layers["houses"]["featureCount"] + len(residents)
    assert entry.row_counts["Event"] == layers["open-events"]["featureCount"]
    assert entry.row_counts["Person"] == sum(f["properties"]["count"] for f in residents)
    assert entry.person_ids == []
    assert entry.outcome == "partial"


def test_no_feature_leaves_when_the_entry_can_not_be_committed(
    settings: Settings, token_for: Callable[[str], str], tmp_path: Any
) -> None:
    with TestClient(create_app(settings)) as client:
        headers = bearer(token_for(WORKER_1))
        url = f"/views/{PATROL}.geojson?layer=houses"
        assert client.get(url, headers=headers).status_code == 200
        writer = services(client.app).audit_writer
        broken = create_engine(
            settings.model_copy(
                update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/missing/audit.db"}
            )
        )
        working, writer._engine = writer._engine, broken
        try:
            response = client.get(url, headers=headers)
        finally:
            writer._engine = working
        assert response.status_code == 503
        assert "features" not in response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
        assert client.get(url, headers=headers).status_code == 200
