"""What one connection may cost the hub: a body is read only up to its limit and within its
time, a request head is bounded in size and in time. ``gridhub serve`` in its own process, asked
over raw sockets (an HTTP client library would not send what an attacker sends)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import orjson
import pytest

from hub.http_protocol import BODY_GRACE
from hub.settings import Settings
from tests.support import running

pytestmark = pytest.mark.e2e

MAX_BODY = 65_536
MAX_HEADER = 16_384
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
WORKER = "worker-440306001001001"


@pytest.fixture(scope="module")
def server(database_url: str, settings: Settings) -> Iterator[tuple[str, int]]:
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_MAX_BODY_BYTES": str(MAX_BODY),
        "GRIDHUB_MAX_HEADER_BYTES": str(MAX_HEADER),
        "GRIDHUB_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "GRIDHUB_BODY_TIMEOUT": str(BODY_TIMEOUT),
    }
    with running(["serve", "--database-url", settings.database_url], env=environment) as (
        base,
        _,
    ):
        address = urlsplit(base)
        yield address.hostname or "127.0.0.1", address.port or 80


def connect(server: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(server, timeout=10)
    sock.settimeout(10)
    return sock


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or 10 s pass)."""
    received = b""
    try:
        while chunk := sock.recv(65_536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def first_answer(sock: socket.socket) -> tuple[bytes, float]:
    """The server's first bytes, and how long they took to come."""
    started = time.monotonic()
    try:
        received = sock.recv(65_536)
    except (ConnectionResetError, TimeoutError):
        received = b""
    return received, time.monotonic() - started


def send_quietly(sock: socket.socket, data: bytes) -> bool:
    """Send, and say whether the server still took it (it may have answered and closed)."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def post_head(token: str, path: str = "/graphql", framing: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n"
        "Connection: close\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# The body.


def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(
    server: tuple[str, int], token_for: Callable[[str], str]
) -> None:
    """A chunked body declares no length. The hub stops reading once the body passes its limit
    and answers 413 at once: the body here never ends, so a hub that read it whole before
    measuring it would never answer."""
    sock = connect(server)
    sock.sendall(post_head(token_for(WORKER), framing="Transfer-Encoding: chunked\r\n"))
    sent = 0
    piece = b'{"query": "' + b" " * 8_000
    while sent <= MAX_BODY + 8_000 and send_quietly(sock, chunk(piece)):
        sent += len(piece)
    # No last chunk: the body stays open. The answer must not wait for it.
    response, took = first_answer(sock)
    rest = answer(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 413"), response[:200]
    assert b'"REQUEST_TOO_LARGE"' in response + rest
    assert b"connection: close" in response.lower()  # the rest of the body is not read
    assert took < BODY_TIMEOUT  # refused for its size, not for its time


def test_a_body_within_the_limit_sent_in_chunks_is_answered(
    server: tuple[str, int], token_for: Callable[[str], str]
) -> None:
    body = orjson.dumps({"query": '{ grid(code: "440306") { name } }'})
    sock = connect(server)
    sock.sendall(post_head(token_for(WORKER), framing="Transfer-Encoding: chunked\r\n"))
    sock.sendall(chunk(body[:10]) + chunk(body[10:]) + b"0\r\n\r\n")
    response = answer(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:300]
    assert b'"data"' in response


def test_a_body_that_trickles_is_refused_with_408(
    server: tuple[str, int], token_for: Callable[[str], str]
) -> None:
    sock = connect(server)
    sock.sendall(post_head(token_for(WORKER), framing="Content-Length: 1000\r\n"))
    sock.sendall(b'{"query": "')
    started = time.monotonic()
    response = answer(sock)  # the rest never comes
    took = time.monotonic() - started
    sock.close()
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert b'"REQUEST_TIMEOUT"' in response
    assert BODY_TIMEOUT * 0.9 < took < BODY_TIMEOUT + 2


def test_a_body_nobody_reads_does_not_hold_the_connection(server: tuple[str, int]) -> None:
    """A path that answers without reading the body (here 405) does not keep the connection
    open for a body that trickles on for ever."""
    sock = connect(server)
    sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: hub\r\nContent-Length: 100000\r\n\r\nx")
    response, _ = first_answer(sock)
    started = time.monotonic()
    while time.monotonic() - started < BODY_TIMEOUT + BODY_GRACE + 5:
        if not send_quietly(sock, b"x"):
            break
        sock.settimeout(0.5)
        try:
            if sock.recv(65_536) == b"":
                break  # closed by the hub
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
    took = time.monotonic() - started
    sock.close()
    assert response.startswith(b"HTTP/1.1 405"), response[:200]
    assert took < BODY_TIMEOUT + BODY_GRACE + 1  # closed, not held while bytes come


# The head.


def test_a_huge_header_is_refused_with_431_without_reading_it_all(
    server: tuple[str, int],
) -> None:
    """``/healthz`` needs no token: anyone can send it a header. The hub answers 431 and closes
    once the head passes its limit, while the header is still arriving."""
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Padding: ")
    sent, taken = 0, True
    while taken and sent < 4_000_000:  # a 4 MB header, if the hub took it all
        taken = send_quietly(sock, b"a" * 16_384)
        sent += 16_384
        if sent >= 20 * MAX_HEADER:
            sock.settimeout(2)  # by now the answer is there
            break
    response = answer(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 431"), response[:200]


def test_headers_within_the_limit_are_answered(server: tuple[str, int]) -> None:
    sock = connect(server)
    padding = b"a" * (MAX_HEADER // 2)
    head = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\nX-Padding: %s\r\n\r\n"
    sock.sendall(head % padding)
    response = answer(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 200"), response[:200]


def test_a_head_that_trickles_is_cut_off(server: tuple[str, int]) -> None:
    """Slowloris: a header line every half second, for ever. The head must be complete within
    its timeout of the request's first byte, however steadily bytes come."""
    sock = connect(server)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
    started = time.monotonic()
    response = b""
    for number in range(40):
        if not send_quietly(sock, b"X-Slow-%d: 1\r\n" % number):
            break
        sock.settimeout(0.5)
        try:
            received = sock.recv(65_536)
        except TimeoutError:
            continue
        response += received
        if not received or response:
            break
    took = time.monotonic() - started
    sock.close()
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert took < HEADER_TIMEOUT + 1.5


def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    sock = connect(server)
    started = time.monotonic()
    response = answer(sock)
    took = time.monotonic() - started
    sock.close()
    assert response == b""  # closed without a word: nothing was asked
    assert took < HEADER_TIMEOUT + 1.5


def test_a_kept_alive_connection_serves_several_requests(server: tuple[str, int]) -> None:
    """The bounds are per request: a connection that asks promptly is kept between requests."""
    sock = connect(server)
    request = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"
    statuses = []
    for _ in range(3):
        sock.sendall(request)
        received = b""
        while not received.endswith(b'{"status":"ok"}'):
            received += sock.recv(65_536)
        statuses.append(received.split(b"\r\n", 1)[0])
        time.sleep(HEADER_TIMEOUT * 0.6)  # idle, and within the keep-alive timeout
    sock.close()
    assert statuses == [b"HTTP/1.1 200 OK"] * 3
