"""Generation in worker processes, handed to the loader piece by piece through one bounded queue.

Each worker runs whole tasks (a street, a slice of events) and puts each table's rows on the
queue as soon as a community or slice is made, encoded the way the loader writes them (``COPY``
text or rows); the queue holds a few pieces, so generation waits for the database rather than
piling rows up in memory. A task ends with a ``done`` message carrying what it hands on (a
street's summary). Tasks may finish in any order: their rows do not depend on it.

With ``workers=0`` the tasks run one after another in a thread of the loading process (tests,
small districts), through the same queue.
"""

from __future__ import annotations

import multiprocessing
import queue as queues
import threading
import traceback
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from demo.bulk.events import EventContext, make_events
from demo.bulk.pieces import as_tuples, copy_text
from demo.bulk.plan import EventSlice, StreetTask
from demo.bulk.streets import make_street

Format = Literal["copy", "rows"]
Task = StreetTask | EventSlice
#: Pieces the queue holds before a worker waits (each at most a community's table or 20,000
#: events: a few MB).
QUEUE_PIECES = 12


@dataclass(frozen=True, slots=True)
class Piece:
    """Rows of one table: ``COPY`` text (``payload`` bytes) or tuples in column order."""

    table: str
    payload: bytes | list[tuple[Any, ...]]
    rows: int


@dataclass(frozen=True, slots=True)
class Done:
    task: int
    result: Any


@dataclass(frozen=True, slots=True)
class Failed:
    task: int
    error: str


Message = Piece | Done | Failed

_queue: Any = None
_context: EventContext | None = None
_format: Format = "rows"


def _init(queue: Any, context: EventContext | None, fmt: Format) -> None:
    global _queue, _context, _format
    _queue, _context, _format = queue, context, fmt


def _emit(table: str, rows: Sequence[Any]) -> None:
    if not rows:
        return
    tuples = as_tuples(table, rows)
    payload = copy_text(table, tuples) if _format == "copy" else tuples
    _queue.put(Piece(table, payload, len(tuples)))


def _run(index: int, task: Task) -> None:
    try:
        if isinstance(task, StreetTask):
            result: Any = make_street(task, _emit)
        else:
            if _context is None:
                raise RuntimeError("event slices need the district's event context")
            make_events(task, _context, _emit)
            result = None
        _queue.put(Done(index, result))
    except BaseException:
        _queue.put(Failed(index, traceback.format_exc()))
        raise


class GenerationFailed(RuntimeError):
    """A worker's task raised, or a worker process died."""


class Runner:
    """Runs ``tasks`` on ``workers`` processes (0: a thread here) and yields their messages."""

    def __init__(
        self,
        tasks: Sequence[Task],
        workers: int,
        fmt: Format,
        context: EventContext | None = None,
    ) -> None:
        self.tasks = list(tasks)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future[None]] = []
        self._thread: threading.Thread | None = None
        if workers > 0:
            spawn = multiprocessing.get_context("spawn")
            self._queue: Any = spawn.Queue(maxsize=QUEUE_PIECES)
            self._pool = ProcessPoolExecutor(
                max_workers=min(workers, max(1, len(self.tasks))),
                mp_context=spawn,
                initializer=_init,
                initargs=(self._queue, context, fmt),
            )
            self._futures = [self._pool.submit(_run, i, t) for i, t in enumerate(self.tasks)]
        else:
            self._queue = queues.Queue(maxsize=QUEUE_PIECES)
            _init(self._queue, context, fmt)
            self._thread = threading.Thread(target=self._run_here, daemon=True)
            self._thread.start()

    def _run_here(self) -> None:
        for index, task in enumerate(self.tasks):
            try:
                _run(index, task)
            except BaseException:
                return

    def next(self, timeout: float = 0.5) -> Message | None:
        """The next message, or None after ``timeout`` seconds without one; raises
        :class:`GenerationFailed` when a worker process died."""
        try:
            message: Message = self._queue.get(timeout=timeout)
            return message
        except queues.Empty:
            for future in self._futures:
                if future.done() and future.exception() is not None:
                    raise GenerationFailed(str(future.exception())) from future.exception()
            return None

    def close(self, abort: bool = False) -> None:
        """Wait for the workers to exit; ``abort`` stops them where they are (a failed load:
        a worker may be waiting to put a piece nobody will take)."""
        if self._pool is None:
            return
        if abort:
            # The executor has no public way to stop running tasks; its processes are ours.
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=not abort, cancel_futures=True)
