"""A TCP proxy in front of the database that a test can cut, stall and restore.

The shared PostgreSQL server can not be stopped (other test sessions use it), so an outage is
made between the hub and the server: :meth:`TcpProxy.cut` closes every connection and stops
listening (new connections are refused, as by a server that is down); :meth:`TcpProxy.stall`
keeps connections open but stops passing bytes (a network that drops packets, a server that
hangs); :meth:`TcpProxy.restore` listens and passes bytes again. It runs on an event loop of
its own in a thread, so a test may block (a sync client, a subprocess) while it works.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self.connections = 0  # connections accepted so far

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._flow(True))
        self._call(self._listen())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._close_all())
        self._call(self._finish())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def cut(self) -> None:
        """Close every connection and refuse new ones."""
        self._call(self._close_all())

    def stall(self) -> None:
        """Keep listening and keep connections, but pass no bytes either way."""
        self._call(self._flow(False))

    def restore(self) -> None:
        self._call(self._flow(True))
        self._call(self._listen())

    async def _flow(self, on: bool) -> None:
        if on:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, reuse_address=True
            )

    async def _close_all(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)  # an aborted transport closes its socket in a callback: run it

    async def _finish(self) -> None:
        """End every connection's tasks and let their transports close their sockets, before
        the loop stops: a socket left to the garbage collector warns in whatever test runs
        then (stalled pipes are still waiting when the proxy is left).

        A connection accepted just before the proxy closed has a task that has not run yet:
        cancelled before its first step, it would never register its socket. Letting the loop
        turn a few times first runs each such task to its first wait, after it registered."""
        for _ in range(3):
            await asyncio.sleep(0)
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for _ in range(3):
            await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        # Registered before the first wait, so closing the proxy (which aborts every registered
        # writer) also ends a connection still waiting for its upstream, or cancelled there.
        self._writers.add(writer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(upstream_writer)
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()
