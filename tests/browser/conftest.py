"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, and a real server.

The browser is the system's ``/usr/bin/chromium`` (Debian's ``chromium`` package); Playwright
never downloads one of its own here. Without it these tests are skipped, saying why. The
server is ``gridhub serve`` in its own process on the session's seeded database, so the page
talks to the hub exactly as it would in production: over HTTP, with real tokens.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from hub.settings import Settings
from tests.support import running

CHROMIUM = Path(os.environ.get("GRIDHUB_TEST_CHROMIUM", "/usr/bin/chromium"))
#: Why the browser tests do not run here, if they do not.
NO_CHROMIUM = f"no Chromium at {CHROMIUM}: `apt-get install chromium` to run the browser tests"
#: Headless, and quiet: no sync, no updates, no first-run pages, no background requests that
#: would go anywhere but the hub under test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: Where the tests leave their screenshots (ignored by git): ``test-artifacts/map/`` at the
#: repository's root, or the folder ``GRIDHUB_TEST_ARTIFACTS`` names.
ARTIFACTS = Path(
    os.environ.get("GRIDHUB_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a module's browser tests. Not for the session: Playwright's
    synchronous API runs its own event loop while it is open, and the suite's async tests that
    come after need none to be running."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder the screenshots go to (made if missing)."""
    folder = ARTIFACTS / "map"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(database_url: str, settings: Settings) -> Iterator[str]:
    """``gridhub serve`` on the session's database, signing with the session's keys."""
    arguments = ["serve", "--database-url", database_url]
    with running(arguments, env={"GRIDHUB_KEY_DIR": str(settings.key_dir)}) as (base, _):
        yield base


def is_local(url: str) -> bool:
    """Whether a request the page made stays on this machine (``data:`` URLs never leave)."""
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname in LOCAL_HOSTS


@dataclass
class Visit:
    """A fresh browser tab (its own cookies and storage) and what it did: every request it
    made, and every error its console or scripts reported (a CSP violation is one)."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url')})")

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if not is_local(url)]


@pytest.fixture
def visit(browser: Browser) -> Iterator[Callable[[], Visit]]:
    """Open tabs that record their requests and errors; closed after the test."""
    contexts = []

    def open_tab() -> Visit:
        context = browser.new_context(viewport={"width": 1200, "height": 800}, locale="en-GB")
        contexts.append(context)
        tab = Visit(context.new_page())
        tab.page.on("request", lambda request: tab.requests.append(request.url))
        tab.page.on("console", tab._console)
        tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.page.set_default_timeout(20_000)
        return tab

    yield open_tab
    for context in contexts:
        context.close()
