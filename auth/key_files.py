"""Key files on disk, for both key sets the hub keeps (token signing and audit signing).

Private keys are written with mode 0600 into a 0700 folder, atomically (a temporary file, then
a rename or a hard link), so a crash never leaves half a key and two processes starting at once
agree on one key; rotations take an exclusive lock on the folder; a reader notices a change by
the files' (mtime, inode) stamps and reloads.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"


def write_private(path: Path, text: str, *, replace: bool) -> bool:
    """Write ``text`` to ``path`` with mode 0600, atomically.

    With ``replace=False`` the file is only created if it does not exist yet (False if another
    process got there first), so two processes starting at once agree on one key.
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@contextlib.contextmanager
def locked(key_dir: Path) -> Iterator[None]:
    """Hold the folder's lock, so rotations by several processes run one after another."""
    with open(key_dir / LOCK_FILE, "a", encoding="utf-8") as lock:
        os.fchmod(lock.fileno(), 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_dir(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def file_stamps(key_dir: Path, names: tuple[str, ...]) -> tuple[tuple[int, int], ...]:
    """(mtime, inode) of each key file, (0, 0) if missing: a change means reload (a rotation
    replaces a file, so the inode changes even within one mtime tick)."""
    stamps = []
    for name in names:
        try:
            stat = (key_dir / name).stat()
            stamps.append((stat.st_mtime_ns, stat.st_ino))
        except FileNotFoundError:
            stamps.append((0, 0))
    return tuple(stamps)


def warn_if_readable_by_others(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; it should be mode 0600", path)
