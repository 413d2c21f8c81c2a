"""Preparing a run's rows on every core: worker processes parse, check and place blocks of a
CSV file while the run's own process stages what they answer.

The workers are forked once the :class:`~feeds.prepare.Preparer` (and its matcher's index) is
built, so they share it rather than rebuild it; each remembers its own address answers. A
block is the file's raw lines (:func:`feeds.read.csv_blocks`): sending text costs far less than
sending parsed rows, and each block parses on its own with the lines the whole file would give.
Answers come back in the file's order, and at most a few blocks per worker are in flight, so
memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor

from feeds.prepare import Prepared, Preparer
from feeds.read import csv_block_rows

#: Blocks in flight per worker.
AHEAD = 2

_preparer: Preparer | None = None
_names: list[str] = []


def default_workers() -> int:
    """How many worker processes a CSV run uses: one per core, none on a single core (the
    run's own process then prepares the rows)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if (cores or 1) < 2 else int(cores or 1)


def _prepare_block(before: int, lines: list[str]) -> Prepared:
    assert _preparer is not None, "the worker was not forked from a run"
    return _preparer.prepare(csv_block_rows(_names, before, lines))


async def prepared_blocks(
    preparer: Preparer,
    names: list[str],
    blocks: Iterator[tuple[int, list[str]]],
    workers: int,
) -> AsyncIterator[Prepared]:
    """The blocks prepared by ``workers`` forked processes, in the file's order."""
    global _preparer, _names
    _preparer, _names = preparer, names
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        pending: deque[asyncio.Future[Prepared]] = deque()
        for before, lines in blocks:
            pending.append(asyncio.wrap_future(pool.submit(_prepare_block, before, lines)))
            if len(pending) >= workers * AHEAD:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _preparer, _names = None, []
