"""Stopping the server ends its event streams at once: each gets ``SERVER_STOPPING`` and
``complete``, and the server does not wait for them.

Its own module: the signal is the process's (``events.stream.server_stopping``, one server per
process in production), so a server stopped here would end the streams of any other server this
test process still runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from tests.events.streams import Served, serve, stream_settings, subscribe

pytestmark = pytest.mark.e2e

WORKER = "worker-440306001001001"
GRID = "subscription { eventsInMyGrid { id } }"


async def test_stopping_the_server_ends_its_streams_at_once(
    settings: Settings, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    with serve(stream_settings(settings)) as hub:
        async with subscribe(hub.url, token_for(WORKER), GRID) as stream:
            await _opened(hub)
            took = await asyncio.to_thread(hub.stop)
            last = await stream.next()
            async with asyncio.timeout(5):
                await stream.completed.wait()
    assert [e["extensions"]["code"] for e in last["errors"]] == ["SERVER_STOPPING"]
    assert took < 5, f"the server took {took:.1f} s to stop with a stream open"


async def _opened(served: Served) -> None:
    deadline = time.monotonic() + 5
    while served.streams < 1:
        assert time.monotonic() < deadline, "the stream did not open"
        await asyncio.sleep(0.02)
