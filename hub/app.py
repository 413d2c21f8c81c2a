"""The app factory: one Starlette app per settings object, wired in one place.

Nothing is created at import time; the engine opens, the token-signing keys load (or are
created, the first time) and the policy store and plan cache are made in the lifespan, as the
app's :class:`~hub.services.Services`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from audit.http import public_key_response
from auth.principal import Unauthenticated, unauthenticated_handler
from hub.endpoints.corrections import corrections_endpoint
from hub.endpoints.event_stream import graphql_or_stream
from hub.endpoints.exports import export_endpoint
from hub.endpoints.feeds import feed_runs_endpoint
from hub.endpoints.geojson import geojson_endpoint
from hub.endpoints.token import jwks_endpoint, token_endpoint
from hub.execution import Executor
from hub.graphiql_page import graphiql_routes
from hub.health import healthz, readyz
from hub.limits import Limits
from hub.metrics import InProgress, Metrics, metrics_endpoint
from hub.pipeline import REQUEST_ID
from hub.services import Services, services
from hub.settings import Settings
from policies.plan import Clock, utc_now
from schema import build_schema
from views.map_page import map_routes

#: Every method an HTTP client may send to /graphql.
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Starlette:
    """``clock`` is the app's time: requests' "now", grants' expiry and the grant sweep's
    (tests pass one they can move on)."""
    settings = settings or Settings()
    metrics = Metrics()
    executor = Executor(
        build_schema(),
        settings.document_cache_size,
        Limits.from_settings(settings),
        production=settings.production,
        compiled=settings.compiled_reads,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hide_query_strings()  # here: after the server configured its logging
        started = await Services.start(settings, clock, metrics, executor)
        app.state.services = started
        try:
            yield
        finally:
            await started.close()

    app = Starlette(
        routes=[
            # Every method reaches the endpoint, which answers all but GET and POST with a
            # GraphQL-shaped 405 (and an audit entry); Accept: text/event-stream subscribes.
            Route("/graphql", graphql_or_stream, methods=ANY_METHOD),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/oauth/token", token_endpoint, methods=["POST"]),
            Route("/.well-known/jwks.json", jwks_endpoint, methods=["GET"]),
            Route("/audit/public-key", audit_public_key, methods=["GET"]),
            Route("/views/{code}.geojson", geojson_endpoint, methods=["GET"]),
            Route("/feeds/{code}/runs", feed_runs_endpoint, methods=["POST"]),
            Route("/feeds/{code}/corrections", corrections_endpoint, methods=["GET"]),
            Route("/exports/{kind}.xlsx", export_endpoint, methods=["GET"]),
            *map_routes(),
            *graphiql_routes(settings.graphiql and not settings.production),
        ],
        exception_handlers={Unauthenticated: unauthenticated_handler},
        middleware=[*proxies(settings), Middleware(InProgress, metrics=metrics), cors(settings)],
        lifespan=lifespan,
    )
    return app


async def audit_public_key(request: Request) -> Response:
    """``GET /audit/public-key`` (see :mod:`audit.http`)."""
    return public_key_response(services(request).audit_keys)


class _PathWithoutQuery(logging.Filter):
    """The access log shows a request's path but not its query string: a GET's ``query`` and
    ``variables`` may hold personal values (an ID number to look up), and logs must not."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def hide_query_strings() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _PathWithoutQuery) for f in access.filters):
        access.addFilter(_PathWithoutQuery())


def cors(settings: Settings) -> Middleware:
    """Browsers on the listed origins may call the API; with none listed (the default) every
    cross-origin preflight is refused. Tokens travel in a header, never in cookies, so
    credentials are not allowed."""
    return Middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Accept",
            "X-Access-Purpose",
            "X-Preview-As",
        ],
        expose_headers=[REQUEST_ID],
        max_age=settings.cors_max_age,
    )


def proxies(settings: Settings) -> list[Middleware]:
    """Believe X-Forwarded-For and X-Forwarded-Proto from the listed proxies only: the client
    address then is the nearest one the proxies did not add. The server must not read the
    headers itself (`gridhub serve` runs uvicorn with ``proxy_headers=False``); otherwise any
    client on its loopback could choose its address for the rate limits and the audit log."""
    if not settings.trusted_proxies:
        return []
    return [Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))]


def create_app_from_environment() -> Starlette:
    """The app of the ``GRIDHUB_*`` environment: what each worker process of ``gridhub serve
    --workers N`` builds (uvicorn imports it by name: ``hub.app:create_app_from_environment``)."""
    return create_app(Settings())
