"""Count layers on the map page: a civil affairs view counts two groups of people per grid
(everyone, and the floating population). Each count layer is shaded by class (a choropleth,
its classes in the legend), and the counts are written one label per grid — never one layer's
label on top of the other's.

Screenshot: ``test-artifacts/map/{backend}-counts.png`` (ignored by git).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, Visit

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)]

VIEW = "test-counts"
LAYERS = ("residents", "floating")
OFFICER = "officer-civil-affairs"
DEFINE = """mutation { defineView(input: {code: "test-counts", name: "人数", layers: [
  {code: "residents", name: "居民", source: PEOPLE, aggregate: {by: GRID, minCount: 3},
   fields: ["code", "name"], style: {colour: "#5e35b1", size: 2, labelField: "count"}}
  {code: "floating", name: "流动人口", source: PEOPLE, filter: {registration: FLOATING},
   aggregate: {by: GRID, minCount: 3}, fields: ["code", "name"],
   style: {colour: "#00897b", size: 2, labelField: "count"}}
]}) { changed } }"""


@pytest.fixture
def counts_view(server: str, token_for: Callable[[str], str]) -> Iterator[str]:
    """A view of two count layers per grid that the small test district fills."""
    headers = {"authorization": f"Bearer {token_for(OFFICER)}"}

    def ask(query: str) -> dict[str, Any]:
        answer = httpx.post(f"{server}/graphql", json={"query": query}, headers=headers)
        body: dict[str, Any] = answer.json()
        assert "errors" not in body, body
        return body

    ask(DEFINE)
    try:
        yield VIEW
    finally:
        ask(f'mutation {{ deleteView(code: "{VIEW}") }}')


READY = "#page[data-state='ready'], #page[data-state='error']"

#: The visible permanent labels' boxes and texts, as the browser lays them out.
LABEL_BOXES = """() => [...document.querySelectorAll(
    '.gh-count-box, .leaflet-tooltip.gh-label, .leaflet-tooltip-pane .leaflet-tooltip')]
  .filter((e) => getComputedStyle(e).visibility !== 'hidden' && e.offsetParent !== null)
  .map((e) => { const r = e.getBoundingClientRect();
    return {text: e.innerText, left: r.left, top: r.top, right: r.right, bottom: r.bottom}; })
  .filter((b) => b.right > b.left && b.bottom > b.top)"""


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def test_count_layers_are_shaded_by_class_and_their_labels_never_overlap(
    server: str,
    counts_view: str,
    visit: Callable[[], Visit],
    token_for: Callable[[str], str],
    artifacts: Path,
    backend: str,
) -> None:
    tab = visit()
    tab.page.goto(
        f"{server}/map/{VIEW}#token={token_for('civil-affairs-app')}&purpose=elderly_care"
    )
    tab.page.wait_for_selector(READY)
    assert tab.page.get_attribute("#page", "data-state") == "ready", tab.page.inner_text("#page")

    for code in LAYERS:
        entry = tab.page.locator(f"#legend-items > li[data-layer-code='{code}']")
        drawn = int(str(entry.get_attribute("data-feature-count")))
        assert drawn > 0, code
        classes = entry.locator("li.gh-class")
        assert 1 <= classes.count() <= 5, code
        lows = [int(str(c.get_attribute("data-low"))) for c in classes.all()]
        highs = [int(str(c.get_attribute("data-high"))) for c in classes.all()]
        assert lows[0] >= 3  # the view leaves out counts under three
        assert all(low <= high for low, high in zip(lows, highs, strict=True))
        assert all(high < low for high, low in zip(highs, lows[1:], strict=False))
        index = entry.get_attribute("data-layer-index")
        shaded = tab.page.locator(f"path.gh-layer-{index}")
        assert shaded.count() == drawn
        if classes.count() > 1:  # darker shades for more people
            found = {
                str(shaded.nth(i).get_attribute("class")).split("gh-class-")[1].split()[0]
                for i in range(drawn)
            }
            assert len(found) > 1

    boxes = tab.page.evaluate(LABEL_BOXES)
    assert boxes, "the counts are written on the map"
    for i, box in enumerate(boxes):
        for other in boxes[i + 1 :]:
            assert not _overlap(box, other), (box, other)
    # One label per grid holds both layers' counts where both have one.
    both = (
        tab.page.locator(".gh-count-box")
        .filter(has=tab.page.locator(f".gh-count-line[data-layer-code='{LAYERS[1]}']"))
        .filter(has=tab.page.locator(f".gh-count-line[data-layer-code='{LAYERS[0]}']"))
    )
    assert both.count() > 0

    tab.page.screenshot(path=artifacts / f"{backend}-counts.png")

    # Switching a layer off takes its counts off the labels.
    tab.page.locator(f"#legend-items > li[data-layer-code='{LAYERS[0]}'] input").uncheck()
    assert tab.page.locator(f".gh-count-line[data-layer-code='{LAYERS[0]}']").count() == 0
    assert tab.page.locator(f".gh-count-line[data-layer-code='{LAYERS[1]}']").count() > 0
    assert tab.outside_requests() == []
    assert tab.errors == []
