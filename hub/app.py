"""The app factory: one Starlette app per settings object, wired in one place.

Nothing is created at import time; the engine opens in the lifespan and closes with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.db import create_engine
from hub.execution import Executor
from hub.graphql_http import graphql_endpoint, json_response
from hub.settings import Settings
from schema import build_schema


async def healthz(_: Request) -> Response:
    return json_response({"status": "ok"})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.engine = create_engine(settings)
        try:
            yield
        finally:
            await app.state.engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.executor = Executor(build_schema(), settings.document_cache_size)
    return app
