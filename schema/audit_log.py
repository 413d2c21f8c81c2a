"""The auditor's view of the audit log: ``auditLog`` (search) and ``auditStats`` (counts).

Only a principal holding the ``auditor`` role reaches either (:mod:`schema.duties`); everyone
else gets ``FORBIDDEN`` and the attempt is itself an audit entry like any other request. The
SQL lives in :mod:`audit.search`; this module turns arguments into its filters and its rows into
GraphQL objects. Person ids come out as the global ids the rest of the API uses, and a person
filter takes either that global id or the bare id an export shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import RowMapping
from strawberry.scalars import JSON

from audit.search import AuditCursor, AuditFilter, count, search, stats
from resolvers.ids import from_global_id, to_global_id
from schema.base import Info
from schema.duties import AUDITOR, principal_with_duty
from schema.relay import PageInfo
from store.errors import BadUserInput

#: The GraphQL types of this module: the audit recorder logs reads of their fields as the
#: auditor's (ALLOW for an auditor, DENY for anyone else).
AUDIT_TYPES = frozenset({"AuditEntry", "AuditFieldRead", "AuditCount"})
#: How long an auditor's search waits for this process's newest entries to become searchable.
INDEX_WAIT_SECONDS = 1.0
#: The widest ``auditStats`` range: a dashboard's year, and a bound on what one request scans.
MAX_STATS_DAYS = 400


@strawberry.enum(description="How a request ended.")
class AuditOutcome(enum.Enum):
    OK = "ok"
    PARTIAL = "partial"
    DENIED = "denied"
    ERROR = "error"


@strawberry.enum(description="The plan's decision on a field a request read.")
class AuditDecision(enum.Enum):
    ALLOW = "ALLOW"
    MASK = "MASK"
    DENY = "DENY"


@strawberry.enum(description="What `auditStats` counts by.")
class AuditGroup(enum.Enum):
    DEPARTMENT = "department"
    RESOURCE = "resource"
    OUTCOME = "outcome"
    DAY = "day"


@strawberry.input(description="Every filter given must hold; `from` ≤ time < `to`.")
class AuditLogFilter:
    subject: str | None = strawberry.field(default=None, description="The principal's `sub`.")
    department: str | None = strawberry.field(default=None, description="A department code.")
    client_id: str | None = strawberry.field(default=None, description="An OAuth client id.")
    person_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Requests that returned this person: a `Person` global id or a bare id.",
    )
    resource_type: str | None = strawberry.field(
        default=None, description="Requests that read a field of this type, e.g. `Person`."
    )
    field: str | None = strawberry.field(
        default=None, description="Requests that read this field, e.g. `idNumber`."
    )
    outcome: AuditOutcome | None = None
    error_code: str | None = strawberry.field(
        default=None, description="`UNAUTHENTICATED`, `INVALID_CLIENT` (a failed login), ..."
    )
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="With a time zone, e.g. `2026-11-01T00:00+08:00`."
    )
    to: datetime | None = strawberry.field(default=None, description="Exclusive.")
    operation_name: str | None = None
    decision: AuditDecision | None = strawberry.field(
        default=None,
        description="Requests that read some field with this decision (with `resourceType` "
        "and `field`: that field).",
    )
    grant_id: str | None = strawberry.field(
        default=None,
        description="Requests this grant allowed: `grant:7` (or `7`), or a rule's text as "
        "`grantIds` shows it.",
    )


@strawberry.type(description="A field a request read, and what the plan did with it.")
class AuditFieldRead:
    type: str
    field: str
    decision: AuditDecision


@strawberry.type(description="One request the hub answered: one link of a writer's hash chain.")
class AuditEntry:
    writer_id: str = strawberry.field(description="The process whose chain holds the entry.")
    seq: int = strawberry.field(description="Its place in that chain, from 1, with no gaps.")
    at: datetime
    request_id: str = strawberry.field(description="The response's `X-Request-Id`.")
    subject: str | None
    principal_kind: str | None = strawberry.field(description="`person` or `client`.")
    department: str | None
    roles: list[str]
    client_id: str | None
    client_address: str | None
    operation_name: str | None
    operation_type: str | None
    query_hash: str | None = strawberry.field(description="SHA-256 of the normalised query.")
    variables: JSON = strawberry.field(description="Values of tier-3+ filters `[redacted]`.")
    purpose: str | None = strawberry.field(description="The declared `X-Access-Purpose`.")
    reads: list[AuditFieldRead]
    person_ids: list[strawberry.ID] = strawberry.field(
        description="Global ids of the people the answer held."
    )
    row_counts: JSON = strawberry.field(description="Objects returned, per type.")
    grant_ids: list[str] = strawberry.field(description="What allowed the reads.")
    outcome: AuditOutcome
    error_code: str | None
    latency_ms: float
    hash: str = strawberry.field(description="SHA-256 of the entry's canonical form.")
    prev_hash: str

    @classmethod
    def from_row(cls, row: RowMapping) -> AuditEntry:
        return cls(
            writer_id=row["writer_id"],
            seq=row["seq"],
            at=row["at"],
            request_id=row["request_id"],
            subject=row["subject"],
            principal_kind=row["principal_kind"],
            department=row["department_code"],
            roles=list(row["roles"]),
            client_id=row["client_id"],
            client_address=row["client_address"],
            operation_name=row["operation_name"],
            operation_type=row["operation_type"],
            query_hash=row["query_hash"],
            variables=row["variables"],
            purpose=row["purpose"],
            reads=[
                AuditFieldRead(
                    type=r["type"], field=r["field"], decision=AuditDecision(r["decision"])
                )
                for r in row["reads"]
            ],
            person_ids=[strawberry.ID(to_global_id("Person", key)) for key in row["person_ids"]],
            row_counts=row["row_counts"],
            grant_ids=list(row["grant_ids"]),
            outcome=AuditOutcome(row["outcome"]),
            error_code=row["error_code"],
            latency_ms=row["latency_us"] / 1000,
            hash=row["hash"],
            prev_hash=row["prev_hash"],
        )


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type(description="A page of the log, newest first.")
class AuditEntryConnection:
    edges: list[AuditEntryEdge]
    page_info: PageInfo
    has_next_page: bool = strawberry.field(
        deprecation_reason="Use `pageInfo { hasNextPage }`, as on every other list."
    )
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` for the next page.",
        deprecation_reason="Use `pageInfo { endCursor }`, as on every other list.",
    )
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many entries match the filter in all, over every page.")
    async def total_count(self) -> int:
        return await self._count()


@strawberry.type(description="How many entries fall in one group.")
class AuditCount:
    department: str | None = None
    resource: str | None = None
    outcome: AuditOutcome | None = None
    day: date | None = None
    count: int = 0


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise BadUserInput(f"`{name}` needs a time zone (e.g. 2026-11-01T00:00:00+08:00)")
    return value


def _person_key(value: str) -> str:
    """The bare id behind a Person global id, or the value itself when it is a bare id."""
    if value.isascii() and value.isdigit():
        return value
    return str(from_global_id(value, "Person")[1])


def audit_filter(given: AuditLogFilter | None) -> AuditFilter:
    if given is None:
        return AuditFilter()
    since = None if given.from_ is None else _aware(given.from_, "from")
    until = None if given.to is None else _aware(given.to, "to")
    if since is not None and until is not None and since >= until:
        raise BadUserInput("`from` must be before `to`")
    return AuditFilter(
        subject=given.subject,
        department_code=given.department,
        client_id=given.client_id,
        person_id=None if given.person_id is None else _person_key(given.person_id),
        resource_type=given.resource_type,
        field=given.field,
        outcome=None if given.outcome is None else given.outcome.value,
        error_code=given.error_code,
        since=since,
        until=until,
        operation_name=given.operation_name,
        decision=None if given.decision is None else given.decision.value,
        grant_id=None if given.grant_id is None else _grant_name(given.grant_id),
    )


def _grant_name(value: str) -> str:
    """A grant as entries name it: ``grant:7`` for ``7``; anything else as given."""
    return f"grant:{value}" if value.isascii() and value.isdigit() else value


async def _searchable(info: Info) -> None:
    """Wait (briefly) until every entry this process has committed is in the search index,
    so that an auditor finds every request this hub has answered (see :mod:`audit.indexer`)."""
    writer = info.context.audit_writer  # None in-process: no writer, nothing to wait for
    if writer is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(INDEX_WAIT_SECONDS):
                await writer.indexed()


async def resolve_audit_log(
    info: Info,
    filter: AuditLogFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> AuditEntryConnection | None:
    principal_with_duty(info.context.plan, AUDITOR, "The audit log")
    settings = info.context.settings
    size = settings.default_page_size if first is None else first
    if not 1 <= size <= settings.max_page_size:
        raise BadUserInput(f"`first` must be between 1 and {settings.max_page_size}")
    try:
        cursor = None if after is None else AuditCursor.decode(after)
    except ValueError:
        raise BadUserInput("`after` is not a cursor of this list") from None
    await _searchable(info)
    wanted = audit_filter(filter)
    rows, more = await search(await info.context.connection(), wanted, size, cursor)
    edges = [
        AuditEntryEdge(cursor=AuditCursor.of(row).encode(), node=AuditEntry.from_row(row))
        for row in rows
    ]
    start, end = (edges[0].cursor, edges[-1].cursor) if edges else (None, None)

    async def total() -> int:
        return await count(await info.context.connection(), wanted)

    return AuditEntryConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more,
            has_previous_page=cursor is not None,
            start_cursor=start,
            end_cursor=end,
        ),
        has_next_page=more,
        end_cursor=end,
        _count=total,
    )


async def resolve_audit_stats(
    info: Info,
    from_: Annotated[datetime, strawberry.argument(name="from", description="With a time zone.")],
    to: Annotated[datetime, strawberry.argument(description="Exclusive.")],
    group_by: Annotated[list[AuditGroup], strawberry.argument(description="May be empty.")],
) -> list[AuditCount] | None:
    principal_with_duty(info.context.plan, AUDITOR, "Audit statistics")
    since, until = _aware(from_, "from"), _aware(to, "to")
    if since >= until:
        raise BadUserInput("`from` must be before `to`")
    if (until - since).days > MAX_STATS_DAYS:
        raise BadUserInput(f"`from` and `to` may be at most {MAX_STATS_DAYS} days apart")
    await _searchable(info)
    counted = await stats(
        await info.context.connection(),
        since,
        until,
        [group.value for group in group_by],
        timezone=info.context.settings.timezone,
    )
    return [_count(item) for item in counted]


def _count(item: dict[str, Any]) -> AuditCount:
    outcome = item.get("outcome")
    return AuditCount(
        department=item.get("department"),
        resource=item.get("resource"),
        outcome=None if outcome is None else AuditOutcome(outcome),
        day=item.get("day"),
        count=item["count"],
    )
