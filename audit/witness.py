"""A witness outside the database: every signed checkpoint is also appended to a file.

Someone who can write to the database can delete a chain's newest entries together with the
checkpoints that cover them, or a whole chain: what is left is a consistent, shorter log. A
copy of each checkpoint kept elsewhere — on another volume, a file only root may truncate
(``chattr +a``), a log shipped off the host — makes that visible: ``gridhub audit verify``
compares the database with the witness, and a checkpoint the witness holds but the database
does not means entries were removed.

The witness is named by a URL (``GRIDHUB_AUDIT_WITNESS``); ``file:///path/witness.jsonl`` is a
file of JSON lines, one checkpoint a line, exactly the columns its signature covers plus the
signature (so each line can be checked with the public key alone)::

    {"at":"2026-11-23T08:47:07.316905Z","final":false,"head_hash":"3b13…","key_id":"TiXD…",
     "number":1,"seq":1000,"signature":"ZHPx…","writer_id":"23f8…"}

Lines are appended with one ``write`` on a file opened for appending, so several hub processes
can share one witness file. Writing it never holds up a request: the writer appends after the
checkpoint's transaction commits, and keeps what it could not append to try again with the
next checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from audit.chain import CHECKPOINT_FIELDS
from audit.record import canonical_json, render_time

__all__ = ["FileWitness", "WitnessError", "open_witness", "read_witness", "witness_line"]


class WitnessError(ValueError):
    """A witness URL the hub can not use, or a witness file it can not read."""


def witness_line(values: Mapping[str, Any]) -> bytes:
    """A checkpoint as a witness line: its signed columns and its signature, canonical JSON."""
    document = {name: values[name] for name in (*CHECKPOINT_FIELDS, "signature")}
    at = document["at"]
    document["at"] = render_time(at) if isinstance(at, datetime) else at
    return canonical_json(document) + b"\n"


@dataclass(frozen=True)
class FileWitness:
    """Appends checkpoints to a file of JSON lines."""

    path: Path

    def append(self, checkpoints: Sequence[Mapping[str, Any]]) -> None:
        """Append the checkpoints in one write, and make it durable."""
        data = b"".join(witness_line(values) for values in checkpoints)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(f"only {written} of {len(data)} bytes reached {self.path}")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    async def attest(self, checkpoints: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`append`, off the event loop."""
        await asyncio.to_thread(self.append, checkpoints)

    def __str__(self) -> str:
        return self.path.as_uri()


def open_witness(url: str | None) -> FileWitness | None:
    """The witness a URL names (None for none); :class:`WitnessError` for one not supported."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        raise WitnessError(
            f"{url!r}: the audit witness is a file URL, e.g. file:///var/lib/witness/audit.jsonl"
        )
    path = Path(unquote(parts.path))
    if not path.parent.is_dir():
        raise WitnessError(f"{url!r}: the folder {path.parent} does not exist")
    return FileWitness(path)


def read_witness(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, checkpoint) of each line of a witness file; a line that is not a JSON
    object comes as an empty dict (the verifier reports it)."""
    try:
        file = path.open("rb")
    except OSError as error:
        raise WitnessError(f"can not read the witness {path}: {error}") from error
    with file:
        for number, raw in enumerate(file, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                value = {}
            yield number, value if isinstance(value, dict) else {}
