"""The app factory: one Starlette app per settings object, wired in one place.

Nothing is created at import time; the engine opens, the token-signing keys load (or are
created, the first time) and the policy store and plan cache are made in the lifespan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from audit.http import public_key_endpoint
from audit.keys import AuditKeys
from audit.writer import AuditWriter
from catalog.sweep import GrantSweep
from hub.access import Access
from hub.access_watch import AccessWatch
from hub.auth.endpoints import jwks_endpoint, token_endpoint
from hub.auth.issuers import Verifier
from hub.auth.keys import HubKeys
from hub.auth.principal import Unauthenticated, unauthenticated_handler
from hub.db import create_engine
from hub.execution import Executor
from hub.faults import DatabaseState
from hub.graphql_http import graphql_endpoint
from hub.health import healthz, readyz
from hub.metrics import InProgress, Metrics, metrics_endpoint
from hub.rate_limit import RateLimits
from hub.settings import Settings
from policies.plan import Clock, utc_now
from schema import build_schema
from views.http import geojson_endpoint


def create_app(settings: Settings | None = None, clock: Clock = utc_now) -> Starlette:
    """``clock`` is the app's time: requests' "now", grants' expiry and the grant sweep's
    (tests pass one they can move on)."""
    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.keys = await asyncio.to_thread(HubKeys.load_or_create, settings.key_dir)
        app.state.verifier = Verifier.from_settings(settings, app.state.keys)
        app.state.engine = create_engine(settings)
        app.state.database = DatabaseState()
        app.state.database.watch(app.state.engine)
        app.state.rate_limits = RateLimits.from_settings(
            settings, on_redis_error=metrics.redis_errors.inc
        )
        watch = None
        if app.state.engine.dialect.name == "postgresql":
            watch = AccessWatch(settings.database_url)
            await watch.start()
        app.state.access = Access.create(app.state.engine, watch, clock)
        app.state.audit_keys = await asyncio.to_thread(
            AuditKeys.load_or_create, settings.audit_key_dir
        )
        app.state.audit_writer = AuditWriter(
            app.state.engine,
            app.state.audit_keys,
            settings,
            database=app.state.database,
            observer=metrics,
        )
        await app.state.audit_writer.start()
        app.state.grant_sweep = GrantSweep(
            app.state.access.store, app.state.audit_writer, clock, settings.grant_sweep_seconds
        )
        app.state.grant_sweep.start()
        try:
            yield
        finally:
            await app.state.grant_sweep.close()
            await app.state.audit_writer.close()  # flushes and seals this process's chain
            if watch is not None:
                await watch.close()
            await app.state.engine.dispose()
            await app.state.verifier.aclose()
            await app.state.rate_limits.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            Route("/oauth/token", token_endpoint, methods=["POST"]),
            Route("/.well-known/jwks.json", jwks_endpoint, methods=["GET"]),
            Route("/audit/public-key", public_key_endpoint, methods=["GET"]),
            Route("/views/{code}.geojson", geojson_endpoint, methods=["GET"]),
        ],
        exception_handlers={Unauthenticated: unauthenticated_handler},
        lifespan=lifespan,
        middleware=[Middleware(InProgress, metrics=metrics)],
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.clock = clock
    app.state.executor = Executor(build_schema(), settings.document_cache_size)
    return app


def create_app_from_environment() -> Starlette:
    """The app of the ``GRIDHUB_*`` environment: what each worker process of ``gridhub serve
    --workers N`` builds (uvicorn imports it by name: ``hub.app:create_app_from_environment``)."""
    return create_app(Settings())
