"""Verifying an export (jsonl or csv) with the public keys alone, streaming.

An export's chain starts wherever its first line does: a range is anchored on its first entry's
``prev_hash``, and the report says so. Its end line must count what the file holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.export import FORMAT, VERSION, ExportError, Record, read_export
from audit.stream import Progress
from audit.verify.report import Kind, Problem, Report
from audit.verify.walk import Anchor, ChainChecker

#: How far an export is read past a gap in ``seq`` to tell a moved entry from a removed one.
LOOKAHEAD = 256


def verify_file(
    path: Path,
    public_keys: Mapping[str, Ed25519PublicKey],
    progress: Progress | None = None,
) -> Report:
    """Verify an export (jsonl or csv) with the public keys alone, streaming."""
    report = Report(source=str(path))
    try:
        _verify_records(report, read_export(path, progress), public_keys)
    except ExportError as error:
        report.problem = Problem(Kind.MALFORMED, None, None, str(error), line=error.line)
    return report


def _verify_records(
    report: Report, records: Iterable[Record], public_keys: Mapping[str, Ed25519PublicKey]
) -> None:
    """Walk the records into ``report``: a header first, each chain's records together, an
    end line counting them last; a problem ends the walk."""
    checker: ChainChecker | None = None
    seen: set[str] = set()
    counts = {"entry": 0, "checkpoint": 0}
    started = ended = False

    def finish() -> None:
        assert checker is not None
        checker.end()
        checker.add_to(report)
        if checker.first_seq not in (None, 1):
            report.ranges.append(
                f"chain {checker.writer_id}: a range from #{checker.first_seq}, anchored on "
                "that entry's prev_hash (no signature covers what came before it)"
            )

    for line, kind, values in records:
        if not started:
            started = True
            if kind != "header" or values.get("format") != FORMAT:
                raise ExportError(line, f"not a {FORMAT} file: it does not start with its header")
            if values.get("version") != VERSION:
                raise ExportError(line, f"export version {values.get('version')!r} is unknown")
            continue
        if ended:
            raise ExportError(line, "there is more after the end line")
        if kind == "end":
            ended = True
            if checker is not None:
                finish()
                checker = None
                if report.problem is not None:
                    return
            if (
                values.get("entries") != counts["entry"]
                or values.get("checkpoints") != counts["checkpoint"]
            ):
                report.problem = Problem(
                    Kind.REMOVED,
                    None,
                    None,
                    f"the export says it holds {values.get('entries')} entries and "
                    f"{values.get('checkpoints')} checkpoints; it holds {counts['entry']} and "
                    f"{counts['checkpoint']}",
                    line=line,
                )
            continue
        if kind not in counts:
            raise ExportError(line, f"unknown record {kind!r}")
        counts[kind] += 1
        writer = values.get("writer_id")
        if not isinstance(writer, str):
            raise ExportError(line, "a record names no chain")
        if checker is None or writer != checker.writer_id:
            if checker is not None:
                finish()
                if report.problem is not None:
                    return
            if writer in seen:
                report.problem = Problem(
                    Kind.REORDERED,
                    writer,
                    values.get("seq") if isinstance(values.get("seq"), int) else None,
                    f"chain {writer}'s records were reordered: they are not all together",
                    line=line,
                )
                return
            seen.add(writer)
            report.chains += 1
            checker = ChainChecker(writer, public_keys, Anchor(open=True), lookahead=LOOKAHEAD)
        if kind == "entry":
            checker.entry(values, line)
        else:
            checker.checkpoint(values, line)
        if checker.problem is not None:
            checker.add_to(report)
            return
    if checker is not None:
        finish()
    if not started:
        raise ExportError(1, f"not a {FORMAT} file: it is empty")
    if not ended and report.problem is None:
        report.problem = Problem(
            Kind.TAIL_CUT, None, None, "the export was cut short: it has no end line"
        )
