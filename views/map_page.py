"""The map page: ``GET /map/{code}`` and the files it loads, all served by the hub itself.

The page is a shell: it holds no data and needs no token to load (a browser can not send a
header when it opens a page). Its script asks for the view through the same authorized
endpoints every client uses — ``mapView`` in GraphQL, then ``/views/{code}.geojson`` per
layer — with the token the person gives it, so the page can never show more than the API.

Leaflet comes from the ``XStatic-Leaflet`` package installed with the hub, not from a CDN and
not from the repository, so the page works where the hub has no internet. The page's
Content-Security-Policy lets it load scripts, styles and data from the hub alone.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from xstatic.pkg import leaflet

#: The page's own files: its template, and (under ``static/``) its script and style sheet.
ASSETS = Path(str(files("views") / "map_assets"))
#: Where the browser finds Leaflet and the page's files.
LEAFLET_URL = "/static/leaflet"
ASSETS_URL = "/static/map"

#: Only the hub's own scripts, styles and endpoints; no frames, no plugins, no forms elsewhere.
#: Leaflet positions its panes through the style property (CSSOM), which this allows.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
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
    # The page is the same for everyone, but a token may sit in its address's fragment.
    "Cache-Control": "no-store",
}


@cache
def _page_template() -> Template:
    return Template((ASSETS / "page.html").read_text(encoding="utf-8"))


async def map_page(request: Request) -> HTMLResponse:
    """The page for view ``code``; whether the view exists, and what of it the person may see,
    is the API's answer to the page's script."""
    code = request.path_params["code"]
    body = _page_template().substitute(
        code=escape(code, quote=True),
        leaflet=LEAFLET_URL,
        assets=ASSETS_URL,
        leaflet_version=escape(leaflet.VERSION),
    )
    return HTMLResponse(body, headers=PAGE_HEADERS)


def map_routes() -> list[Route | Mount]:
    """The page's route and the two static mounts, for the app factory."""
    return [
        Route("/map/{code}", map_page, methods=["GET"]),
        Mount(LEAFLET_URL, StaticFiles(directory=leaflet.BASE_DIR), name="leaflet"),
        Mount(ASSETS_URL, StaticFiles(directory=ASSETS / "static"), name="map-assets"),
    ]
