"""``gridhub audit``: verify the log, export it for an auditor, publish and rotate its key,
remove whole past months (retention) and make its monthly partitions ahead.

``verify`` exits 0 when the log (or an export) is intact, 1 when it was tampered with, and 2
when it could not be checked at all (no database, no keys, an unreadable key document). The
report goes to stdout, progress and errors to stderr, so ``gridhub audit verify > report.txt``
keeps the verdict.
"""

from __future__ import annotations

import asyncio
import enum
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cli.options import DatabaseOption
from hub.settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from audit.verify import Report

console = Console(stderr=True)
audit_app = typer.Typer(
    help="The tamper-evident audit log: verify it, export it, publish and rotate its key.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="The audit checkpoint-signing keys.", no_args_is_help=True)
audit_app.add_typer(keys_app, name="keys")

INTACT, TAMPERED, UNCHECKED = 0, 1, 2

KeyDirOption = Annotated[
    Path | None,
    typer.Option(
        "--key-dir",
        help="Directory of the audit keys (default: GRIDHUB_AUDIT_KEY_DIR, else ./var/audit-keys).",
        show_default=False,
    ),
]
WriterOption = Annotated[
    str | None,
    typer.Option("--writer", help="Only this chain (a writer id, as reports print it)."),
]


class ExportFormat(enum.StrEnum):
    jsonl = "jsonl"
    csv = "csv"


def _settings(database_url: str | None = None, key_dir: Path | None = None) -> Settings:
    values: dict[str, Any] = {}
    if database_url is not None:
        values["database_url"] = database_url
    if key_dir is not None:
        values["audit_key_dir"] = key_dir
    return Settings(**values)


def _unchecked(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(UNCHECKED)


class RichProgress:
    """The :class:`audit.stream.Progress` of the command line: a bar on stderr."""

    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._description = description
        self._task: TaskID | None = None

    def start(self, total: int | None, unit: str) -> None:
        self._task = self._progress.add_task(self._description, total=total)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)


@contextmanager
def _progress(description: str, *, show: bool, in_bytes: bool = False) -> Iterator[Any]:
    if not show:
        yield None
        return
    counter = DownloadColumn() if in_bytes else MofNCompleteColumn()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        counter,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield RichProgress(progress, description)


def _public_keys(public_key: Path | None, key_dir: Path) -> Mapping[str, Ed25519PublicKey]:
    from audit.keys import AuditKeys, read_public_key_file

    if public_key is not None:
        try:
            return read_public_key_file(public_key)
        except (OSError, ValueError, KeyError) as error:
            message = f"can not read the public key document {public_key}: {error}"
            raise _unchecked(message) from None
    try:
        return AuditKeys.load(key_dir).public_keys
    except (OSError, ValueError, KeyError) as error:
        raise _unchecked(
            f"no audit keys in {key_dir} ({error}); give --key-dir, or --public-key with the "
            "document GET /audit/public-key serves"
        ) from None


def _print_report(report: Report) -> None:
    for number, line in enumerate(report.lines()):
        if number == 0:
            typer.secho(line, fg=typer.colors.GREEN if report.ok else typer.colors.RED)
        else:
            typer.echo(line)


@audit_app.command()
def verify(
    from_seq: Annotated[
        int | None,
        typer.Option(
            "--from",
            min=1,
            help="Check each chain from its newest signed checkpoint before this seq on.",
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Verify this export (jsonl or csv) instead, offline."),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The public key document (what GET /audit/public-key serves); needed with "
            "--file, else the keys in --key-dir are used.",
        ),
    ] = None,
    writer: WriterOption = None,
    database_url: DatabaseOption = None,
    key_dir: KeyDirOption = None,
    witness: Annotated[
        str | None,
        typer.Option(
            "--witness",
            help="Compare the database with this witness (a file URL or path); default: "
            "GRIDHUB_AUDIT_WITNESS.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Check every entry and checkpoint; exit 0 if intact, 1 if tampered with, 2 if unchecked.

    \b
    gridhub audit verify
    gridhub audit verify --from 250000
    gridhub audit verify --file audit-2026-11.jsonl --public-key audit-public-key.json
    """
    from sqlalchemy.exc import SQLAlchemyError

    from audit.verify import verify_database, verify_file
    from audit.witness import WitnessError

    settings = _settings(database_url, key_dir)
    show = not quiet
    if file is not None:
        if public_key is None:
            raise _unchecked("--file needs --public-key: an export is verified with it alone")
        if from_seq is not None or writer is not None:
            raise _unchecked("--from and --writer apply to the database, not to --file")
        if not file.is_file():
            raise _unchecked(f"{file} is not a file")
        keys = _public_keys(public_key, settings.audit_key_dir)
        with _progress("verifying", show=show, in_bytes=True) as progress:
            report = verify_file(file, keys, progress)
    else:
        keys = _public_keys(public_key, settings.audit_key_dir)
        witness_file = _witness_file(witness or settings.audit_witness)

        async def main() -> Report:
            from store.engine import create_engine

            engine = create_engine(settings)
            try:
                with _progress("verifying", show=show) as progress:
                    return await verify_database(
                        engine,
                        keys,
                        from_seq=from_seq,
                        writer_id=writer,
                        progress=progress,
                        witness=witness_file,
                    )
            finally:
                await engine.dispose()

        try:
            report = asyncio.run(main())
        except (SQLAlchemyError, OSError) as error:
            raise _unchecked(f"can not read the audit log: {error}") from None
        except WitnessError as error:
            raise _unchecked(str(error)) from None
    _print_report(report)
    raise typer.Exit(INTACT if report.ok else TAMPERED)


def _witness_file(given: str | None) -> Path | None:
    """The witness file a URL (``file:///…``) or a plain path names; None for none."""
    from audit.witness import WitnessError, open_witness

    if not given:
        return None
    if "://" not in given:
        return Path(given)
    try:
        found = open_witness(given)
    except WitnessError as error:
        raise _unchecked(str(error)) from None
    return None if found is None else found.path


def parse_when(text: str, timezone: str) -> datetime:
    """A date (midnight) or date and time; without an offset it is the district's local time."""
    try:
        if len(text) == 10:
            at = datetime.combine(date.fromisoformat(text), time())
        else:
            at = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give a date (2026-11-01) or a time (2026-11-01T08:00, +08:00 or Z)"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(timezone))


@audit_app.command()
def export(
    since: Annotated[
        str | None,
        typer.Option(
            "--from", help="First day or time (district time unless it says).", show_default=False
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--to", help="Up to, not including, this day or time.", show_default=False),
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or csv.")] = (
        ExportFormat.jsonl
    ),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write here (default: standard output)."),
    ] = None,
    writer: WriterOption = None,
    database_url: DatabaseOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write the entries (with their hashes) and checkpoints of a time range, for an auditor.

    \b
    gridhub audit export --from 2026-11-01 --to 2026-12-01 -o audit-2026-11.jsonl
    gridhub audit export --from 2026-11-01 --format csv -o audit.csv
    """
    from sqlalchemy.exc import SQLAlchemyError

    from audit.export import export as export_log

    settings = _settings(database_url)
    start = parse_when(since, settings.timezone) if since else None
    end = parse_when(until, settings.timezone) if until else None
    if start is not None and end is not None and end <= start:
        raise typer.BadParameter("--to must come after --from")

    async def main(out: Any) -> Any:
        from store.engine import create_engine

        engine = create_engine(settings)
        try:
            with _progress("exporting", show=not quiet and output is not None) as progress:
                return await export_log(
                    engine,
                    out,
                    since=start,
                    until=end,
                    fmt=fmt.value,
                    writer_id=writer,
                    progress=progress,
                )
        finally:
            await engine.dispose()

    try:
        if output is None:
            summary = asyncio.run(main(sys.stdout))
        else:
            with output.open("w", encoding="utf-8", newline="") as out:
                summary = asyncio.run(main(out))
    except (SQLAlchemyError, OSError) as error:
        raise _unchecked(f"can not export the audit log: {error}") from None
    chains = "chain" if summary.chains == 1 else "chains"
    console.print(
        f"exported {summary.entries} entries and {summary.checkpoints} checkpoints "
        f"of {summary.chains} {chains}" + (f" to {output}" if output else "")
    )


@audit_app.command("public-key")
def public_key(key_dir: KeyDirOption = None) -> None:
    """Print the public key document (as GET /audit/public-key serves it), for auditors.

    \b
    gridhub audit public-key > audit-public-key.json
    """
    from audit.keys import AuditKeys

    keys = AuditKeys.load_or_create(_settings(key_dir=key_dir).audit_key_dir)
    typer.echo(json.dumps(keys.document(), indent=2))


@keys_app.command("rotate")
def rotate(key_dir: KeyDirOption = None) -> None:
    """Sign new checkpoints with a new key; every earlier key stays in the public document.

    Running hubs switch at their next checkpoint. Publish the new document to auditors.
    """
    from audit.keys import rotate as rotate_keys

    kid = rotate_keys(_settings(key_dir=key_dir).audit_key_dir)
    typer.echo(kid)
    console.print("Rotated: new checkpoints are signed with this key.")


@audit_app.command()
def retain(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            help="Remove every whole month before this one (YYYY-MM, UTC); at most the current "
            "month, which is never removed.",
            show_default=False,
        ),
    ],
    export_dir: Annotated[
        Path,
        typer.Option(
            "--export-dir",
            help="Write each month's export here (audit-YYYY-MM.jsonl) before removing it.",
            show_default=False,
        ),
    ],
    database_url: DatabaseOption = None,
    key_dir: KeyDirOption = None,
) -> None:
    """Export, verify, then remove whole past months, leaving a signed retention checkpoint.

    Exit 0 when the months are gone (or there were none), 1 when refused (nothing removed),
    2 when the log could not be read.

    \b
    gridhub audit retain --before 2026-10 --export-dir /srv/audit-archive
    """
    from sqlalchemy.exc import SQLAlchemyError

    from audit.keys import AuditKeys
    from audit.retention import RetentionRefused, RetentionResult
    from audit.retention import retain as retain_months
    from store.audit_partitions import Month

    try:
        month = Month.parse(before)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--before") from None
    settings = _settings(database_url, key_dir)
    try:
        keys = AuditKeys.load(settings.audit_key_dir)
    except (OSError, ValueError, KeyError) as error:
        raise _unchecked(f"no audit keys in {settings.audit_key_dir} ({error})") from None

    async def main() -> RetentionResult:
        from store.engine import create_engine

        engine = create_engine(settings)
        try:
            return await retain_months(engine, keys, month, export_dir)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(main())
    except RetentionRefused as error:
        typer.secho(f"refused: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None
    except (SQLAlchemyError, OSError) as error:
        raise _unchecked(f"can not read the audit log: {error}") from None
    if not result.exports:
        typer.echo(f"nothing before {month}: no entry removed")
        return
    for item in result.exports:
        typer.echo(f"{item.month}: {item.entries} entries exported to {item.path}, verified")
        typer.echo(f"  sha256 {item.sha256}")
    typer.echo(
        f"removed {result.entries} entries before {month} from "
        f"{len(result.chains)} chains; a signed retention checkpoint starts each"
    )


@audit_app.command()
def partitions(
    ahead: Annotated[
        int, typer.Option("--ahead", min=0, max=120, help="Months to make after the current one.")
    ] = 3,
    database_url: DatabaseOption = None,
) -> None:
    """Make the audit log's monthly partitions ahead (PostgreSQL; hubs also do it daily).

    \b
    gridhub audit partitions --ahead 12
    """
    from sqlalchemy.exc import SQLAlchemyError

    from audit.partitions import ensure_partitions
    from store.audit_partitions import is_partitioned, months_of

    settings = _settings(database_url)

    async def main() -> tuple[list[Any], list[Any]]:
        from store.engine import create_engine

        engine = create_engine(settings)
        try:
            made = await ensure_partitions(engine, ahead=ahead)
            async with engine.connect() as connection:
                months = await months_of(connection) if await is_partitioned(connection) else []
            return made, months
        finally:
            await engine.dispose()

    try:
        made, months = asyncio.run(main())
    except (SQLAlchemyError, OSError) as error:
        raise _unchecked(f"can not make the audit partitions: {error}") from None
    if not months:
        typer.echo("the audit log is not partitioned here (SQLite keeps one table)")
        return
    typer.echo(f"made: {', '.join(str(m) for m in made) or 'none (all there)'}")
    typer.echo(f"partitions: {months[0]} .. {months[-1]} ({len(months)} months) and default")
