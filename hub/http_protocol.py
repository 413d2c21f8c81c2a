"""The HTTP/1.1 connection as ``gridhub serve`` runs it: uvicorn's httptools protocol, bounded.

uvicorn's own protocol accepts a request head of any size (a 40 MB header on ``/healthz``, no
token needed, cost a worker 110 MB) and waits for it, and for a body, as long as the sender
likes (200 connections trickling a byte at a time were held for good). Behind a reverse proxy
that buffers requests neither reaches the hub, but the hub must not depend on one. This protocol
adds three bounds to each connection:

- **the request head** (request line and headers) may hold at most ``max_header_bytes``;
  past that the answer is ``431 Request Header Fields Too Large`` and the connection closes,
  after at most one more read from the socket (so never much more than the limit is held);
- **the head must arrive in time**: ``header_timeout`` seconds from the connection's opening, or
  from the first byte of a request on a kept-alive connection (idle time between requests is
  uvicorn's keep-alive timeout); else ``408 Request Timeout`` and the connection closes;
- **the body must arrive in time**: the endpoints that read a body answer ``408`` themselves
  ``body_timeout`` seconds after they began to read it (:mod:`hub.body`, with an audit entry);
  a body still unfinished :data:`BODY_GRACE` seconds after that — one no endpoint reads, sent
  to a path that answered at once — gets its connection closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from events.stream import server_stopping

#: Seconds past ``body_timeout`` before a connection whose body is still arriving is closed.
BODY_GRACE = 5.0

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """A connection's bounds (from the ``GRIDHUB_*`` settings of the same names)."""

    max_header_bytes: int = 32_768
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        return cls(settings.max_header_bytes, settings.header_timeout, settings.body_timeout)


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of :class:`HttpLimits` (see the module)."""

    def __init__(self, *args: Any, limits: HttpLimits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits or HttpLimits()
        self._reading_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """The server starts its graceful shutdown: end this process's event streams first (an
        open stream would otherwise keep its connection, and the shutdown, waiting), so each
        sends its last message and its connection closes like any finished request's."""
        server_stopping()
        super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._reading_head and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, "The request's headers are too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body_timer = self.loop.call_later(
            self.limits.body_timeout + BODY_GRACE, self._body_too_slow
        )
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_too_slow)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._head_bytes == 0 and not self.transport.is_closing():
            self.transport.close()  # nothing was asked: nobody to answer
            return
        self._refuse(408, "The request's headers did not arrive in time.")

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close, unless a response is under way on this connection
        (a pipelined request's head went wrong while an earlier one is answered): then only
        close, as an answer now would cut into that one."""
        if self.transport.is_closing():
            return
        self._cancel_timers()
        if self.cycle is None or self.cycle.response_complete:
            body = message.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
                + b"content-type: text/plain; charset=utf-8\r\n"
                + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
                + body
            )
        self.logger.info("Connection from %s refused: %s", self._peer(), message)
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "unknown"
