"""The address matcher: accuracy on labelled department-style strings, and speed.

    python benchmarks/address_matching.py accuracy [--rows 30000]
    python benchmarks/address_matching.py speed [--houses 100000] [--strings 200000]
    python benchmarks/address_matching.py api --database-url URL [--requests 300]

``accuracy`` generates the demo district (the seed ``gridhub seed`` uses), draws labelled
variants of its standard addresses (``demo.address_variants``: every kind in turn, the truth
known) and reports, per kind and overall, the share accepted automatically, the precision of
what was accepted, and for the rest whether the right house/room is among the top 3 candidates.

``speed`` generates a district of ``--houses`` houses (and their rooms; people, entities and
events are kept few, the matcher does not read them), builds the index from it, and matches
``--strings`` distinct labelled variants one by one (no answer memory: every string is new), then
reports the build time, the index's memory, the throughput and the per-string latencies.

``api`` times ``matchAddress`` through the whole hub in process (ASGI app, token check, plan,
audit entry committed) on a seeded database, as the demo's grid worker ``worker-<first grid>``
and as the housing app, with department-style strings of that grid.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from addresses.matcher import Matcher  # noqa: E402
from demo import Profile, generate  # noqa: E402
from demo.address_variants import variants  # noqa: E402

SEED = 20260101
AS_OF = date(2026, 1, 1)


def _matcher(addresses: list[dict[str, Any]], threshold: float = 0.9) -> Matcher:
    return Matcher.build(
        ((r["code"], r["grid_code"], r["text"]) for r in addresses if r["room_code"] is None),
        ((r["house_code"], r["room"], r["code"]) for r in addresses if r["room_code"]),
        threshold=threshold,
    )


def accuracy(rows: int, seed: int) -> None:
    district = generate(SEED, Profile.demo(), AS_OF)
    matcher = _matcher(district.addresses)
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for variant in variants(district.addresses, rows, seed=seed):
        match = matcher.match(variant.text)
        truth = (variant.house_code, variant.room_code)
        counts = table[variant.kind]
        counts["rows"] += 1
        if match.accepted and match.best is not None:
            right = (match.best.house_code, match.best.room_code) == truth
            counts["accepted right" if right else "accepted WRONG"] += 1
        elif match.candidates:
            top = [(c.house_code, c.room_code) for c in match.candidates[:3]]
            counts[
                "candidates, right in top 3" if truth in top else "candidates, not in top 3"
            ] += 1
        else:
            counts["no candidate"] += 1
    columns = [
        "accepted right",
        "accepted WRONG",
        "candidates, right in top 3",
        "candidates, not in top 3",
        "no candidate",
    ]
    print(
        f"demo district (seed {SEED}): {len(district.houses):,} houses, "
        f"{len(district.rooms):,} rooms; {rows:,} labelled strings (variant seed {seed}); "
        f"threshold {matcher.threshold}\n"
    )
    print("| kind | rows | " + " | ".join(columns) + " | auto share | precision |")
    print("|---|---:|" + "---:|" * (len(columns) + 2))
    total: Counter[str] = Counter()
    for kind, counts in table.items():
        total.update(counts)
        print(_row(kind, counts, columns))
    print(_row("**all**", total, columns))
    rest = total["rows"] - total["accepted right"] - total["accepted WRONG"]
    top3 = total["candidates, right in top 3"] / rest if rest else 1.0
    print(f"\nrest offered as candidates with the right one in the top 3: {top3:.1%} of {rest:,}")


def _row(kind: str, counts: Counter[str], columns: list[str]) -> str:
    accepted = counts["accepted right"] + counts["accepted WRONG"]
    share = accepted / counts["rows"]
    precision = counts["accepted right"] / accepted if accepted else 1.0
    cells = " | ".join(f"{counts[c]:,}" for c in columns)
    return f"| {kind} | {counts['rows']:,} | {cells} | {share:.1%} | {precision:.2%} |"


def speed(houses: int, strings: int, seed: int) -> None:
    profile = replace(Profile.for_people(round(houses * 5.3)), people=1_000, entities=10, events=10)
    started = time.perf_counter()
    district = generate(SEED, replace(profile, houses=houses), AS_OF)
    print(
        f"district: {len(district.houses):,} houses, {len(district.rooms):,} rooms "
        f"(generated in {time.perf_counter() - started:.0f} s)"
    )
    labelled = list(variants(district.addresses, strings, seed=seed))
    texts = [v.text for v in labelled]
    gc.collect()
    before = _resident()
    started = time.perf_counter()
    matcher = _matcher(district.addresses)
    built = time.perf_counter() - started
    gc.collect()
    grew = (_resident() - before) / 2**20
    print(f"index built in {built:.1f} s; resident memory grew {grew:.0f} MiB")
    gc.freeze()  # the base and the index are never garbage: keep the collector off them
    latencies = []
    accepted = wrong = 0
    cpu = time.process_time()
    started = time.perf_counter()
    for text in texts:
        begin = time.perf_counter_ns()
        match = matcher.match(text)
        latencies.append(time.perf_counter_ns() - begin)
        accepted += match.accepted
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    for variant in labelled:  # off the clock: the accuracy at this size
        match = matcher.match(variant.text)
        if match.accepted and match.best is not None:
            wrong += (match.best.house_code, match.best.room_code) != (
                variant.house_code,
                variant.room_code,
            )
    rate = len(texts) / elapsed
    latencies.sort()
    p50 = latencies[len(latencies) // 2] / 1000
    p99 = latencies[int(len(latencies) * 0.99)] / 1000
    print(
        f"matched {len(texts):,} distinct strings in {elapsed:.1f} s: {rate:,.0f} strings/s, "
        f"p50 {p50:.0f} µs, p99 {p99:.0f} µs, {accepted / len(texts):.1%} accepted, "
        f"precision of the accepted {(accepted - wrong) / max(accepted, 1):.2%} ({wrong} wrong)"
    )
    print(
        f"CPU time {cpu:.1f} s ({len(texts) / cpu:,.0f} strings per CPU-second); "
        f"1,000,000 strings: {1_000_000 / rate:.0f} s at this wall-clock rate, "
        f"{1_000_000 / (len(texts) / cpu):.0f} CPU-seconds"
    )
    print(f"load average while matching (1, 5, 15 min): {os.getloadavg()}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of the process: {peak:.0f} MiB")


def _resident() -> int:
    """The process's resident memory now, in bytes (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def api(database_url: str, requests: int) -> None:
    import tempfile

    from starlette.testclient import TestClient

    from auth.keys import HubKeys
    from auth.tokens import issue_token
    from hub.app import create_app
    from hub.settings import Settings

    # No rate limit: hundreds of back-to-back requests from one person are what it refuses.
    settings = Settings(
        database_url=database_url, key_dir=Path(tempfile.mkdtemp()), rate_limits=False
    )
    keys = HubKeys.load_or_create(settings.key_dir)
    query = (
        "query M($text: String!) { matchAddress(text: $text) { accepted method "
        "candidates { confidence standardAddress house { code } room { code } } } }"
    )
    subject = "worker-440306001001001"
    token = issue_token(keys, settings, subject, "person")
    headers = {"authorization": f"Bearer {token}"}
    texts = _api_texts(settings)
    house = (
        'query H($text: String!) { house(code: "4403060010010010001") { code address } '
        "grid(code: $text) { code } }"
    )
    with TestClient(create_app(settings)) as client:
        for name, document, variables in (
            ("matchAddress", query, lambda i: {"text": texts[i % len(texts)]}),
            ("house(code) (the floor)", house, lambda i: {"text": "440306001001001"}),
            ("matchAddress", query, lambda i: {"text": texts[i % len(texts)]}),
        ):
            times = []
            cpu = 0.0
            for i in range(requests + 20):
                if i == 20:
                    cpu = time.process_time()
                body = {"query": document, "variables": variables(i)}
                begin = time.perf_counter()
                answer = client.post("/graphql", json=body, headers=headers).json()
                if i >= 20:  # the first requests build the index and warm the caches
                    times.append(time.perf_counter() - begin)
                if "errors" in answer:
                    raise SystemExit(f"{subject}: {answer['errors']}")
            cpu = time.process_time() - cpu
            times.sort()
            print(
                f"{name} as {subject}: {requests} requests, "
                f"p50 {statistics.median(times) * 1000:.2f} ms, "
                f"p90 {times[int(len(times) * 0.9)] * 1000:.2f} ms, "
                f"CPU {cpu / requests * 1000:.2f} ms a request (client, hub and SQLite together)"
            )
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


def _api_texts(settings: Any) -> list[str]:
    """Department-style spellings of the first grid's standard addresses."""
    import asyncio

    from sqlalchemy import select

    from store.engine import create_engine
    from store.models import Address

    async def rows() -> list[dict[str, Any]]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(
                    select(Address.__table__).where(
                        Address.__table__.c.grid_code == "440306001001001"
                    )
                )
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    found = asyncio.run(rows())
    return [v.text for v in variants(found, 200, seed=1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--rows", type=int, default=30_000)
    a.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("speed")
    s.add_argument("--houses", type=int, default=100_000)
    s.add_argument("--strings", type=int, default=200_000)
    s.add_argument("--seed", type=int, default=2)
    p = sub.add_parser("api")
    p.add_argument("--database-url", required=True)
    p.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    if args.command == "accuracy":
        accuracy(args.rows, args.seed)
    elif args.command == "speed":
        speed(args.houses, args.strings, args.seed)
    else:
        api(args.database_url, args.requests)


if __name__ == "__main__":
    main()
