"""Verification streams: its memory stays flat as the log grows five-fold."""

from __future__ import annotations

import asyncio
import tracemalloc

from sqlalchemy.ext.asyncio import AsyncEngine

from audit.keys import AuditKeys
from audit.verify import Report, verify_database
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

NOTE = "备注" * 700  # about 4 kB of canonical form per entry, so loading the log would show


async def _traced(engine: AsyncEngine, keys: AuditKeys) -> tuple[Report, int]:
    tracemalloc.start()
    try:
        report = await verify_database(engine, keys.public_keys)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_verifying_five_times_the_entries_takes_no_more_memory(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await make_writer(max_batch=4000, audit_checkpoint_entries=1000)

    async def fill(count: int) -> None:
        await asyncio.gather(
            *(writer.record(record(variables={"note": NOTE})) for _ in range(count))
        )

    await fill(1000)
    await verify_database(audit_engine, audit_keys.public_keys)  # warm caches up, untraced
    small, small_peak = await _traced(audit_engine, audit_keys)
    await fill(4000)
    large, large_peak = await _traced(audit_engine, audit_keys)
    assert small.ok, small.lines()
    assert large.ok, large.lines()
    assert (small.entries, large.entries) == (1000, 5000)
    log_size = 5000 * len(NOTE.encode())
    assert large_peak < small_peak * 1.25, (small_peak, large_peak)
    assert large_peak < log_size / 3, (large_peak, log_size)
