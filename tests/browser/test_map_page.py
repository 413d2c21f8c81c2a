"""The map page in a real browser: what a person sees when they open ``/map/{code}``."""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.conftest import Visit


def test_without_a_token_the_page_asks_for_one(server: str, visit: Callable[[], Visit]) -> None:
    tab = visit()
    tab.page.goto(f"{server}/map/housing-rental")
    tab.page.wait_for_selector("#page[data-state='need-token']")
    assert tab.page.get_by_label("Access token").is_visible()
    assert tab.page.title() == "Map view housing-rental · gridhub"
    assert tab.outside_requests() == []
    assert tab.errors == []


def test_a_refused_token_is_said_so_and_asked_for_again(
    server: str, visit: Callable[[], Visit]
) -> None:
    tab = visit()
    tab.page.goto(f"{server}/map/housing-rental#token=not-a-token")
    tab.page.wait_for_selector("#problem:not([hidden])")
    assert "#token" not in tab.page.url, "the token stays in the address bar"
    assert "Your token was not accepted" in tab.page.inner_text("#problem")
    assert tab.page.get_by_label("Access token").is_visible()
    # The refused token is forgotten: the session keeps nothing to send again.
    assert tab.page.evaluate("sessionStorage.getItem('gridhub.token')") is None
    assert tab.outside_requests() == []
