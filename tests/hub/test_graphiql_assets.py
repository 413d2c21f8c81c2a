"""GraphiQL's page loads nothing from outside the hub: every script and style sheet it names
is served by the hub, and its Content-Security-Policy allows no other origin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings

BROWSER = {"accept": "text/html,application/xhtml+xml"}


@pytest.fixture(scope="module")
def browser(settings: Settings) -> Iterator[TestClient]:
    development = settings.model_copy(update={"mode": "development"})
    with TestClient(create_app(development)) as client:
        yield client


def _loads(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


def test_every_file_the_page_loads_is_the_hubs_own(browser: TestClient) -> None:
    page = browser.get("/graphql", headers=BROWSER)
    assert page.status_code == 200
    loads = _loads(page.text)
    assert any(url.endswith("graphiql.min.js") for url in loads)
    assert any(url.endswith("react-dom.production.min.js") for url in loads)
    for url in loads:
        assert not urlsplit(url).netloc, f"{url} is not on the hub"
        served = browser.get(url)
        assert served.status_code == 200, url
        assert served.content.strip(), url


def test_the_page_may_load_from_the_hub_alone(browser: TestClient) -> None:
    policy = browser.get("/graphql", headers=BROWSER).headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"


def test_the_bundle_is_graphiql_and_react_as_released(browser: TestClient) -> None:
    """The installed files are the releases the page is written for."""
    react = browser.get("/static/graphiql/react.production.min.js").text
    assert "React v17.0.2" in react[:200]
    graphiql = browser.get("/static/graphiql/graphiql.min.js")
    assert graphiql.headers["content-type"].startswith(
        ("text/javascript", "application/javascript")
    )


def test_no_graphiql_files_where_graphiql_is_off(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"mode": "production"}))) as client:
        assert client.get("/static/graphiql/graphiql.min.js").status_code == 404
