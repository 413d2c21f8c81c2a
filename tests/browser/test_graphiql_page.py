"""GraphiQL in a real browser with no way out but the hub: every request to any other host is
blocked, and the page still draws GraphiQL, which runs a query with a token the person typed
into its Headers tab.

Screenshot: ``test-artifacts/map/{backend}-graphiql.png`` (under the repository's root or the
folder ``GRIDHUB_TEST_ARTIFACTS`` names; ignored by git).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Route

from hub.settings import Settings
from tests.browser.conftest import CHROMIUM, NO_CHROMIUM, Visit, is_local
from tests.support import running

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)]

WORKER = "worker-440306001001001"


@pytest.fixture(scope="module")
def development_server(database_url: str, settings: Settings) -> Iterator[str]:
    """``gridhub serve`` in development mode, where it serves GraphiQL."""
    arguments = ["serve", "--database-url", database_url]
    env = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_MODE": "development",
        "GRIDHUB_GRAPHIQL": "true",
    }
    with running(arguments, env=env) as (base, _):
        yield base


def test_graphiql_renders_and_runs_a_query_with_only_the_hub_reachable(
    development_server: str,
    visit: Callable[[], Visit],
    token_for: Callable[[str], str],
    artifacts: Path,
    backend: str,
) -> None:
    tab = visit()
    blocked: list[str] = []

    def only_the_hub(route: Route) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    tab.page.context.route("**/*", only_the_hub)
    tab.page.goto(f"{development_server}/graphql")

    tab.page.wait_for_selector(".graphiql-container")
    assert tab.page.locator(".graphiql-query-editor .CodeMirror").count() == 1
    assert "me {" in tab.page.locator(".graphiql-query-editor").inner_text()

    tab.page.get_by_text("Headers", exact=True).click()
    headers = tab.page.locator(".graphiql-editor-tool .CodeMirror").last
    headers.click()
    tab.page.keyboard.type(f'{{"Authorization": "Bearer {token_for(WORKER)}"')
    tab.page.locator(".graphiql-execute-button").click()
    result = tab.page.locator(".result-window")
    result.get_by_text(WORKER).wait_for()

    tab.page.screenshot(path=artifacts / f"{backend}-graphiql.png")
    assert blocked == []
    assert tab.outside_requests() == []
    # Before the token is typed, GraphiQL's schema request is refused (401): that is the hub
    # working. Nothing else may go wrong (a script not loaded, a CSP violation).
    unexpected = [e for e in tab.errors if "status of 401 (Unauthorized)" not in e]
    assert unexpected == []
