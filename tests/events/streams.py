"""Helpers of the event-stream tests: a hub served by uvicorn in a thread, events written as
a writer would write them, and a GraphQL-over-SSE client that reads a stream's messages."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import uvicorn
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from hub.app import create_app
from hub.http_protocol import BoundedHttpProtocol, HttpLimits
from hub.services import services
from hub.settings import Settings
from store.models import Event

#: Ids of the events the tests write: far above the seeded ones, and removed afterwards.
FIRST_ID = 900_000_000
_ids = itertools.count(FIRST_ID)
_id_lock = threading.Lock()

MATTERS = {  # a matter of each department the tests route to, and its time limit in hours
    "emergency": ("gas_leak", 1),
    "urban_management": ("fallen_tree", 4),
    "housing": ("rental_house_hazard", 72),
    "public_security": ("neighbour_dispute", 168),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A hub served on a loopback port from a thread of this process."""

    url: str
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def streams(self) -> int:
        """Streams open in the server's process (its event feed's subscribers)."""
        return services(self.app).event_feed.streams

    def stop(self, within: float = 15) -> float:
        """Stop the server as SIGTERM does; the seconds it took."""
        started = time.monotonic()
        self.server.should_exit = True
        self.thread.join(within)
        assert not self.thread.is_alive(), "the server did not stop"
        return time.monotonic() - started


def stream_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={"event_poll_seconds": 0.1, "stream_heartbeat_seconds": 0.5, **changes}
    )


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[Served]:
    """Serve ``settings``'s hub as ``gridhub serve`` does (its bounded protocol, a graceful
    shutdown), until the block ends."""
    app = create_app(settings)
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=functools.partial(BoundedHttpProtocol, limits=HttpLimits.from_settings(settings)),
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    served = Served(f"http://127.0.0.1:{port}", app, server, thread)
    try:
        yield served
    finally:
        if thread.is_alive():
            served.stop()


def next_id() -> int:
    with _id_lock:
        return next(_ids)


async def report(
    engine: AsyncEngine, grid: str, department: str, *, house: str | None = None
) -> int:
    """A new event in ``grid`` handled by ``department``, stamped now; its id."""
    matter, hours = MATTERS[department]
    now = datetime.now(UTC)
    key = next_id()
    async with engine.begin() as connection:
        lon, lat = (
            await connection.execute(
                select(Event.lon, Event.lat).where(Event.grid_code == grid).limit(1)
            )
        ).one()
        await connection.execute(
            insert(Event).values(
                id=key,
                source="grid_patrol",
                category_code=matter,
                description="测试事件",
                status="dispatched",
                reporter="worker-test",
                lon=lon,
                lat=lat,
                house_code=house,
                grid_code=grid,
                handling_department_code=department,
                reported_at=now,
                dispatched_at=now,
                closed_at=None,
                deadline=now + timedelta(hours=hours),
                updated_at=now,
            )
        )
    return key


async def change(engine: AsyncEngine, key: int, status: str) -> None:
    """Move an event on, as a handling step does (it stamps ``updated_at``)."""
    async with engine.begin() as connection:
        await connection.execute(
            update(Event).where(Event.id == key).values(status=status, updated_at=datetime.now(UTC))
        )


async def forget_events(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(Event).where(Event.id >= FIRST_ID))


@dataclass
class Stream:
    """One subscription's stream as a client reads it: ``next`` data, and whether it ended."""

    status: int
    headers: httpx.Headers
    messages: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    completed: asyncio.Event = field(default_factory=asyncio.Event)
    heartbeats: int = 0

    async def next(self, within: float = 10) -> dict[str, Any]:
        async with asyncio.timeout(within):
            return await self.messages.get()

    async def quiet(self, seconds: float) -> None:
        """Nothing arrives for ``seconds``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                found = await self.messages.get()
                raise AssertionError(f"a message arrived: {found}")


async def _read(response: httpx.Response, stream: Stream) -> None:
    kind, data = None, []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            stream.heartbeats += 1
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "":
            if kind == "next":
                await stream.messages.put(orjson.loads("".join(data)))
            elif kind == "complete":
                stream.completed.set()
            kind, data = None, []
    stream.completed.set()


@contextlib.asynccontextmanager
async def subscribe(
    url: str,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Stream]:
    """Open a stream (POST with ``Accept: text/event-stream``) and read it until the block
    ends, which disconnects."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    sent = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("POST", f"{url}/graphql", json=body, headers=sent | (headers or {})) as r,
    ):
        stream = Stream(r.status_code, r.headers)
        if r.status_code != 200:
            await r.aread()
            await stream.messages.put(r.json())
            yield stream
            return
        reader = asyncio.create_task(_read(r, stream))
        try:
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader
