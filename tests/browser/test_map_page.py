"""The map page in a real browser: what a person sees when they open ``/map/{code}``.

Two grid workers of neighbouring grids open the grid office's patrol view. Each must see the
features the API gives them — the same number the view's GeoJSON URL answers them — and not
the other's; a click on an event shows its reporter masked, the way the API masks it, and the
name behind the mask is nowhere on the page. Every request the page makes stays on this
machine, and nothing goes wrong in its console (a Content-Security-Policy violation would).

Screenshots: ``test-artifacts/map/{backend}-{subject}.png`` (one per worker, after the map is
drawn) and ``{backend}-{subject}-popup.png`` (the masked popup), under the repository's root or
the folder ``GRIDHUB_TEST_ARTIFACTS`` names; ignored by git.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, expect

from demo import District
from demo.views import DEMO_VIEWS, PATROL
from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, Visit

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)]

#: Two workers of one community, each assigned one grid: the same view, different features.
WORKERS = ("worker-440306001001001", "worker-440306001001002")
PATROL_VIEW = next(view for view in DEMO_VIEWS if view["code"] == PATROL)
LAYERS = [layer["code"] for layer in PATROL_VIEW["layers"]]
#: A name masked the house way: its first character, then stars.
MASKED_NAME = re.compile(r"^\w\*+$")
READY = "#page[data-state='ready'], #page[data-state='error']"


def api_counts(server: str, token: str) -> dict[str, int]:
    """How many features each layer of the patrol view has for the token's holder, as the
    view's GeoJSON URL (the one GIS tools use) answers."""
    counts = {}
    for layer in LAYERS:
        response = httpx.get(
            f"{server}/views/{PATROL}.geojson",
            params={"layer": layer},
            headers={"authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/geo+json")
        counts[layer] = len(response.json()["features"])
    return counts


def open_map(tab: Visit, server: str, token: str, view: str = PATROL) -> None:
    tab.page.goto(f"{server}/map/{view}#token={token}")
    tab.page.wait_for_selector(READY)


def drawn(tab: Visit) -> dict[str, tuple[int, int]]:
    """Per layer code: the features the page says it drew, and the shapes on the map."""
    found = {}
    for item in tab.page.locator("#legend-items li").all():
        code = str(item.get_attribute("data-layer-code"))
        shapes = tab.page.locator(f"path.gh-layer-{item.get_attribute('data-layer-index')}")
        found[code] = (int(str(item.get_attribute("data-feature-count"))), shapes.count())
    return found


def event_row(global_id: str) -> int:
    """The row id behind an event's global id (``Event:123``, base64)."""
    kind, _, row = base64.b64decode(global_id).decode().partition(":")
    assert kind == "Event"
    return int(row)


def test_two_workers_see_their_own_grids_features_of_one_view(
    server: str,
    visit: Callable[[], Visit],
    token_for: Callable[[str], str],
    artifacts: Path,
    backend: str,
) -> None:
    seen = {}
    for subject in WORKERS:
        token = token_for(subject)
        tab = visit()
        open_map(tab, server, token)
        assert tab.page.get_attribute("#page", "data-state") == "ready", tab.page.inner_text(
            "#side"
        )
        tab.page.screenshot(path=artifacts / f"{backend}-{subject}.png")
        expected = api_counts(server, token)
        counts = drawn(tab)
        # Every layer drawn, each feature once, as many as the API gives this worker.
        assert {code: features for code, (features, _) in counts.items()} == expected
        assert all(features == shapes for features, shapes in counts.values()), counts
        # The legend names the layers as the view does, and shows the page's counts.
        names = tab.page.locator("#legend-items .layer-name").all_inner_texts()
        assert names == [layer["name"] for layer in PATROL_VIEW["layers"]]
        assert tab.page.title() == f"{PATROL_VIEW['name']} · gridhub map"
        assert tab.outside_requests() == []
        assert tab.errors == []
        seen[subject] = expected
    first, second = (seen[subject] for subject in WORKERS)
    assert first["houses"] > 0
    assert second["houses"] > 0
    assert first != second, "two workers of different grids drew the same features"


def test_an_events_reporter_is_masked_in_its_popup_and_layers_toggle(
    server: str,
    visit: Callable[[], Visit],
    token_for: Callable[[str], str],
    district: District,
    artifacts: Path,
    backend: str,
) -> None:
    subject = WORKERS[0]
    tab = visit()
    open_map(tab, server, token_for(subject))
    page = tab.page
    counts = drawn(tab)
    index = {code: LAYERS.index(code) for code in LAYERS}

    def toggle(code: str) -> Locator:
        return page.get_by_role("checkbox", name=PATROL_VIEW["layers"][index[code]]["name"])

    # Layers toggle: the houses and residents go (so nothing covers the events), then return.
    for code in ("houses", "residents"):
        toggle(code).uncheck()
        assert page.locator(f"path.gh-layer-{index[code]}").count() == 0
    assert page.locator(f"path.gh-layer-{index['grids']}").count() == counts["grids"][1]
    events = page.locator(f"path.gh-layer-{index['open-events']}")
    assert events.count() == counts["open-events"][0] > 0

    # Click the events until one was reported by a person (not the hotline or a sensor). Some
    # share a house, so click where each one is drawn: the one on top answers.
    reporter, shown = None, None
    popup = page.locator(".leaflet-popup-content table")
    for position in range(events.count()):
        if popup.count():
            page.locator(".leaflet-popup-close-button").click()
            popup.wait_for(state="detached")
        box = events.nth(position).bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        popup.wait_for()
        rows = dict(
            zip(
                popup.locator("th").all_inner_texts(),
                popup.locator("td").all_inner_texts(),
                strict=True,
            )
        )
        event = district.events[event_row(rows["id"]) - 1]
        assert event["id"] == event_row(rows["id"])
        assert event["grid_code"] == subject.removeprefix("worker-")
        if re.fullmatch(r"[\u4e00-\u9fff]{2,4}", event["reporter"]):
            reporter, shown = event["reporter"], rows["reporter"]
            break
    assert reporter is not None, "no event of a person's report in the worker's grid"
    expect(page.locator(".leaflet-popup")).to_have_css("opacity", "1")  # faded in
    page.screenshot(path=artifacts / f"{backend}-{subject}-popup.png")
    assert MASKED_NAME.match(shown), shown
    assert shown[0] == reporter[0]
    assert reporter not in page.content(), "the unmasked name reached the page"

    for code in ("houses", "residents"):
        toggle(code).check()
        assert page.locator(f"path.gh-layer-{index[code]}").count() == counts[code][1]
    assert tab.outside_requests() == []
    assert tab.errors == []


def test_an_unknown_view_is_said_so(
    server: str, visit: Callable[[], Visit], token_for: Callable[[str], str]
) -> None:
    tab = visit()
    open_map(tab, server, token_for(WORKERS[0]), view="no-such-view")
    assert tab.page.get_attribute("#problem", "data-code") == "NOT_FOUND"
    assert "No such view" in tab.page.inner_text("#problem")
    assert tab.page.locator("#legend-items li").count() == 0


def test_a_view_for_a_purpose_asks_to_declare_it_and_still_refuses_who_may_not_see_it(
    server: str, visit: Callable[[], Visit], token_for: Callable[[str], str]
) -> None:
    """Civil affairs' elderly view filters on care tags, which a grid worker may not filter
    on: the page offers to declare the view's purpose, and after that says no plainly."""
    tab = visit()
    open_map(tab, server, token_for(WORKERS[0]), view="civil-affairs-elderly")
    assert tab.page.get_attribute("#problem", "data-code") == "PURPOSE_REQUIRED"
    tab.page.get_by_role("button", name=re.compile("Declare the purpose “elderly_care”")).click()
    tab.page.wait_for_selector("#problem[data-code='FORBIDDEN']")
    assert "You may not see this view" in tab.page.inner_text("#problem")
    assert tab.page.locator("#legend-items li").count() == 0
    assert tab.outside_requests() == []


def test_without_a_token_the_page_asks_for_one(server: str, visit: Callable[[], Visit]) -> None:
    tab = visit()
    tab.page.goto(f"{server}/map/{PATROL}")
    tab.page.wait_for_selector("#page[data-state='need-token']")
    assert tab.page.get_by_label("Access token").is_visible()
    assert tab.page.title() == f"Map view {PATROL} · gridhub"
    assert tab.outside_requests() == []
    assert tab.errors == []


def test_a_token_typed_into_the_form_draws_the_map(
    server: str, visit: Callable[[], Visit], token_for: Callable[[str], str]
) -> None:
    tab = visit()
    tab.page.goto(f"{server}/map/{PATROL}")
    tab.page.get_by_label("Access token").fill(token_for(WORKERS[1]))
    tab.page.get_by_role("button", name="Show the map").click()
    tab.page.wait_for_selector(READY)
    assert tab.page.get_attribute("#page", "data-state") == "ready"
    assert tab.page.locator("#legend-items li").count() == len(LAYERS)
    assert tab.page.locator("#token-form").is_hidden()


def test_a_refused_token_is_said_so_and_asked_for_again(
    server: str, visit: Callable[[], Visit]
) -> None:
    tab = visit()
    tab.page.goto(f"{server}/map/{PATROL}#token=not-a-token")
    tab.page.wait_for_selector("#problem:not([hidden])")
    assert "#token" not in tab.page.url, "the token stays in the address bar"
    assert "Your token was not accepted" in tab.page.inner_text("#problem")
    assert tab.page.get_by_label("Access token").is_visible()
    # The refused token is forgotten: the session keeps nothing to send again.
    assert tab.page.evaluate("sessionStorage.getItem('gridhub.token')") is None
    assert tab.outside_requests() == []


@pytest.mark.parametrize("subject", [WORKERS[0]])
def test_the_token_leaves_the_address_bar_and_stays_for_the_tab(
    server: str, visit: Callable[[], Visit], token_for: Callable[[str], str], subject: str
) -> None:
    tab = visit()
    token = token_for(subject)
    open_map(tab, server, token)
    assert tab.page.url == f"{server}/map/{PATROL}"
    assert tab.page.evaluate("sessionStorage.getItem('gridhub.token')") == token
    tab.page.reload()
    tab.page.wait_for_selector(READY)
    assert tab.page.get_attribute("#page", "data-state") == "ready"
