"""The GraphiQL page (``GET /graphql`` from a browser) and every file it loads, served by the
hub itself, so GraphiQL works where the hub has no internet.

GraphiQL, React and ReactDOM come from the ``graphene-django-graphiql-static`` package on PyPI
(pinned in pyproject.toml), which ships their release files unchanged: GraphiQL 2.4.7, React and
ReactDOM 17.0.2, byte for byte the files of those npm releases but for a final newline. Only its
static folder is read; nothing of Django is imported or needed. Nothing of GraphiQL is in the
repository: the page's template, style and start-up script are the hub's own (under
``graphiql_assets/``). The page's Content-Security-Policy lets it load scripts, styles and data
from the hub alone, so a page that reached for a CDN would fail loudly in the browser test.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

#: The page's own files: its template, and (under ``static/``) its script and style sheet.
ASSETS = Path(str(files("hub") / "graphiql_assets"))
#: GraphiQL's, React's and ReactDOM's release files, as the package installs them.
BUNDLE = Path(
    str(files("graphene_django_graphiql_static") / "static" / "graphene_django_graphiql_static")
)
#: Where the browser finds them.
BUNDLE_URL = "/static/graphiql"
ASSETS_URL = "/static/graphiql-page"

#: Only the hub's own scripts, styles and endpoints. GraphiQL's editors set styles through the
#: style property (CSSOM), which this allows; its fonts are data: URLs in its style sheet.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def _page() -> str:
    template = (ASSETS / "page.html").read_text(encoding="utf-8")
    return template.replace("$bundle", BUNDLE_URL).replace("$assets", ASSETS_URL)


def graphiql_page() -> HTMLResponse:
    """The page: a shell whose script runs GraphiQL against ``/graphql`` on the same hub."""
    return HTMLResponse(_page(), headers=PAGE_HEADERS)


def graphiql_routes(served: bool) -> list[Mount]:
    """The two static mounts the page loads from, for the app factory; none where the page
    is not ``served`` (production mode, or GraphiQL switched off)."""
    if not served:
        return []
    return [
        Mount(BUNDLE_URL, StaticFiles(directory=BUNDLE), name="graphiql"),
        Mount(ASSETS_URL, StaticFiles(directory=ASSETS / "static"), name="graphiql-page"),
    ]
