"""Running the hub's worker processes: uvicorn's supervisor, telling Prometheus who died.

With several workers each writes its metrics to files of its own in ``PROMETHEUS_MULTIPROC_DIR``
(:mod:`hub.metrics`), and a gauge summed over the live ones — ``gridhub_requests_in_progress``,
``gridhub_audit_queue_depth`` — reads every worker's files. A worker that is killed (out of
memory, SIGKILL, a crash) leaves its files behind with the requests it was answering counted in
progress for ever. uvicorn's supervisor replaces a dead worker but knows nothing of Prometheus;
this one also calls :func:`prometheus_client.multiprocess.mark_process_dead` for it (what
gunicorn's ``child_exit`` hook is documented to do), so its live gauges leave the sums.
"""

from __future__ import annotations

import os

from prometheus_client import multiprocess
from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from hub.metrics import MULTIPROC_DIR


class Supervisor(Multiprocess):
    """uvicorn's :class:`Multiprocess`, marking each worker that is gone as dead."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                mark_dead(pid)

    def handle_ttou(self) -> None:
        before = {process.pid for process in self.processes}
        super().handle_ttou()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                mark_dead(pid)

    def restart_all(self) -> None:
        before = {process.pid for process in self.processes}
        super().restart_all()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                mark_dead(pid)


def mark_dead(pid: int) -> None:
    """Drop a gone worker's live gauges from the shared metrics folder (if there is one)."""
    folder = os.environ.get(MULTIPROC_DIR)
    if folder:
        multiprocess.mark_process_dead(pid, folder)


def run_workers(config: Config) -> None:
    """Serve ``config`` (whose ``workers`` is more than 1) until SIGTERM or SIGINT, as
    ``uvicorn.run`` does, under :class:`Supervisor`."""
    socket = config.bind_socket()
    try:
        Supervisor(config, sockets=[socket]).run()
    finally:
        socket.close()
