"""Reading a request body without trusting its sender: streamed, bounded and on a deadline.

Starlette's ``request.body()`` collects the whole body before anyone can look at its size. A
body sent with ``Transfer-Encoding: chunked`` declares no ``Content-Length``, so a check of that
header alone lets a 300 MB body into memory before it is refused. Here the body is read chunk by
chunk and reading stops as soon as it passes the limit (:class:`BodyTooLarge`, answered 413):
the hub never holds more than the limit plus one chunk, whatever the sender claims or sends.

A sender may also trickle: a byte every few seconds holds a worker's connection and the request
open for as long as it likes. The whole body must have arrived ``GRIDHUB_BODY_TIMEOUT`` seconds
after the endpoint began to read it (:class:`BodyTimeout`, answered 408). The server closes a
connection whose body is still unfinished a little later even where no endpoint reads it
(:mod:`hub.http_protocol`).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request


class BodyTooLarge(Exception):
    """The body is longer than the limit (its ``Content-Length`` says so, or its bytes do)."""


class BodyTimeout(Exception):
    """The body did not arrive in time."""


async def read_body(request: Request, max_bytes: int, seconds: float) -> bytes:
    """The request's body, at most ``max_bytes`` long, read within ``seconds``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                body += chunk
                if len(body) > max_bytes:
                    raise BodyTooLarge
    except TimeoutError:
        raise BodyTimeout from None
    return bytes(body)
