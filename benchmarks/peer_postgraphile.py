"""PostGraphile 4 as the benchmarks' peer: installed from the npm registry into a cache folder
outside git (``benchmarks/.peer/``), started on a loopback port against the hub's own database,
and asked the grid worker's query in PostGraphile's naming, with the same nesting and columns.

PostGraphile reads the tables as they are: no permissions, no masks, no audit entry. Its answer
is therefore compared with the hand-written SQL's *raw* columns (the phone unmasked, the birth
date rather than the age, the enum values as stored), value for value; the hub's answer is
compared with the same SQL rows after the grid worker's masks. ``peers.py`` and
``throughput.py`` use it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from grid_worker_setup import Canonical, asyncpg_dsn, console, free_port

#: The npm package and the folder it is installed into (git-ignored; reused between runs).
PACKAGE = "postgraphile@4"
PEER_DIR = Path(__file__).parent / ".peer"
BINARY = PEER_DIR / "node_modules" / ".bin" / "postgraphile"

#: The grid worker's query in PostGraphile's names: ``gridByCode`` is the hub's ``grid(code:)``,
#: ``housesByGridCode`` its ``houses`` (code order, as the hub pages them), ``peopleByHouseCode``
#: its ``residents`` (id order). ``birthDate`` stands where the hub computes ``age`` from it.
QUERY = """
query GridWorker($grid: String!, $houses: Int!, $residents: Int!) {
  gridByCode(code: $grid) {
    housesByGridCode(first: $houses, orderBy: CODE_ASC) {
      edges {
        node {
          code
          address
          use
          floors
          peopleByHouseCode(first: $residents, orderBy: ID_ASC) {
            edges {
              node { id name gender birthDate phone registration residenceKind }
            }
          }
        }
      }
    }
  }
}
"""


def missing_reason() -> str | None:
    """Why the PostGraphile side cannot run here (no ``node`` or ``npm``), or None."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH: the PostGraphile side is skipped"
    return None


def install() -> Path:
    """``npm install postgraphile@4`` into :data:`PEER_DIR` once; later runs reuse it."""
    if BINARY.exists():
        return BINARY
    PEER_DIR.mkdir(exist_ok=True)
    console.print(f"Installing {PACKAGE} from the npm registry into {PEER_DIR} …")
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PEER_DIR), PACKAGE],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return BINARY


@contextmanager
def running_postgraphile(database_url: str) -> Iterator[str]:
    """A PostGraphile 4 server (one node process, production mode, no query log, no mutations)
    on the ``public`` schema of ``database_url``; yields its GraphQL URL."""
    binary = install()
    port = free_port()
    command = [
        str(binary),
        "--connection",
        asyncpg_dsn(database_url),
        "--schema",
        "public",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-default-mutations",
        "--disable-query-log",
    ]
    env = {**os.environ, "NODE_ENV": "production"}
    with (
        tempfile.TemporaryDirectory(prefix="gridhub-peer-") as workdir,
        open(Path(workdir) / "postgraphile.log", "w+b") as log,
    ):
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}/graphql"
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(
                        f"PostGraphile did not start:\n{log.read().decode(errors='replace')}"
                    )
                try:
                    probe = httpx.post(url, json={"query": "{ __typename }"}, timeout=1)
                    if probe.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def canonical_raw_from_sql(records: Sequence[asyncpg.Record]) -> Canonical:
    """The SQL rows as stored: no masks, the birth date, the enum values as in the table."""
    houses: dict[str, tuple[Any, ...]] = {}
    for r in records:
        house = houses.setdefault(r["code"], (r["code"], r["address"], r["use"], r["floors"], []))
        if r["id"] is not None:
            house[4].append(
                (
                    r["id"],
                    r["name"],
                    r["gender"],
                    r["birth_date"].isoformat(),
                    r["phone"],
                    r["registration"],
                    r["residence_kind"],
                )
            )
    return list(houses.values())


def canonical_from_postgraphile(body: dict[str, Any]) -> Canonical:
    """PostGraphile's answer as the tuples of :func:`canonical_raw_from_sql`."""
    if body.get("errors"):
        raise RuntimeError(f"PostGraphile answered with errors: {body['errors']}")
    houses = []
    for edge in body["data"]["gridByCode"]["housesByGridCode"]["edges"]:
        h = edge["node"]
        people = [
            (
                int(p["id"]),
                p["name"],
                p["gender"],
                p["birthDate"],
                p["phone"],
                p["registration"],
                p["residenceKind"],
            )
            for p in (e["node"] for e in h["peopleByHouseCode"]["edges"])
        ]
        houses.append((h["code"], h["address"], h["use"], h["floors"], people))
    return houses
