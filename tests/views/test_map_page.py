"""The map page and the files it loads are served by the hub itself, as what they are.

The page must work with no internet, so nothing it loads may come from elsewhere: every
address in the page, its script and its style sheet points back at the hub. (The browser test
in tests/browser/ drives the page itself.)
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from demo.views import DEMO_VIEWS
from hub.app import create_app
from hub.settings import Settings
from views.map_page import ASSETS_URL, LEAFLET_URL

MAP_DOCS = Path(__file__).parents[2] / "docs" / "map.md"
#: The one absolute URL the page's script may hold: the SVG namespace, which is a name only.
NAMES_NOT_ADDRESSES = {"http://www.w3.org/2000/svg"}


class _Addresses(HTMLParser):
    """Every address an HTML document loads or links to."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [v for k, v in attrs if k in ("src", "href", "action") and v is not None]


@pytest.fixture(scope="module")
def client(settings: Settings) -> TestClient:
    """The app without its lifespan: the page and its files need no database."""
    return TestClient(create_app(settings))


def test_the_page_is_html_with_a_policy_that_allows_only_the_hub(client: TestClient) -> None:
    """Served with no token: a browser opening a link sends none (the data asks for one)."""
    response = client.get("/map/housing-rental")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="en">' in response.text
    assert 'data-view-code="housing-rental"' in response.text
    assert "<title>" in response.text


def test_the_page_loads_only_the_hubs_own_files(client: TestClient) -> None:
    parser = _Addresses()
    parser.feed(client.get("/map/housing-rental").text)
    addresses = [a for a in parser.found if a != "data:,"]  # the empty icon: no request at all
    assert addresses, "the page loads nothing?"
    assert all(address.startswith((LEAFLET_URL, ASSETS_URL)) for address in addresses), addresses
    for address in addresses:
        assert client.get(address).status_code == 200, address


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (f"{LEAFLET_URL}/leaflet.js", "javascript"),
        (f"{LEAFLET_URL}/leaflet.css", "text/css"),
        (f"{LEAFLET_URL}/images/layers.png", "image/png"),
        (f"{ASSETS_URL}/map.js", "javascript"),
        (f"{ASSETS_URL}/map.css", "text/css"),
    ],
)
def test_leaflet_and_the_pages_files_are_served_as_what_they_are(
    client: TestClient, path: str, kind: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert len(response.content) > 500


def test_leaflet_is_the_packaged_release(client: TestClient) -> None:
    script = client.get(f"{LEAFLET_URL}/leaflet.js").text
    assert re.search(r'version\s*=\s*"1\.9\.\d+"', script) or "1.9." in script[:400]


@pytest.mark.parametrize("path", [f"{ASSETS_URL}/map.js", f"{ASSETS_URL}/map.css"])
def test_the_pages_script_and_style_name_no_other_host(client: TestClient, path: str) -> None:
    text = client.get(path).text
    addresses = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", text))
    assert addresses <= NAMES_NOT_ADDRESSES


def test_the_view_code_is_text_in_the_page_never_markup(client: TestClient) -> None:
    """A code in the address is the attacker's choice: it must not become markup."""
    response = client.get('/map/x"><script>alert(1)<%2Fscript>')
    assert response.status_code in (200, 404)
    assert "<script>alert(1)" not in response.text


def test_the_map_docs_open_the_demos_views(client: TestClient) -> None:
    """Every map address docs/map.md gives is a view the demo seeds (and the page for it is
    served); every demo view is in its table."""
    named = set(re.findall(r"(?<!/static)/map/([a-z0-9-]+)", MAP_DOCS.read_text(encoding="utf-8")))
    assert named == {view["code"] for view in DEMO_VIEWS}
    for code in named:
        assert client.get(f"/map/{code}").status_code == 200
