"""Small helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest


def data_of(body: dict[str, Any]) -> Any:
    """The data of a response that must have no errors."""
    assert "errors" not in body, body["errors"]
    return body["data"]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(
    arguments: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Run ``gridhub ARGUMENTS --port P`` in its own process until it answers /healthz; yield
    its URL and (once it has stopped) its output.

    The output goes to a file, not a pipe: nobody reads a pipe while the server runs, and once
    its buffer is full (a thousand or so access-log lines) every write, and so every worker,
    would block."""
    port = _free_port()
    defaults = {"GRIDHUB_GRAPHIQL": "false"}
    if cwd is None:  # keep the audit keys out of the working tree
        defaults["GRIDHUB_AUDIT_KEY_DIR"] = tempfile.mkdtemp(prefix="gridhub-audit-keys-")
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", *arguments, "--port", str(port)],
        cwd=cwd,
        env={**os.environ, **defaults, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    output: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=10)
                log.seek(0)
                pytest.fail(f"server did not start:\n{log.read().decode()}")
            time.sleep(0.1)
        yield base, output
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.seek(0)
        output.append(log.read().decode())
        log.close()
