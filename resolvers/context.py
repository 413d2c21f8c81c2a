"""The per-request context: settings, one database connection, and the request's loaders.

One connection per request: a response's statements share it rather than each field taking one
from the pool; it is taken on first use and given back when the response is done. The plan is
the principal's (see ``policies.access``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Executable, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection

from auth.principal import Identity
from policies import row_scope as scoping
from policies.field_rules import FieldRules, Plan
from resolvers.answer import Answer
from resolvers.resources import Resource
from store.engine import connect

if TYPE_CHECKING:
    from audit.writer import AuditWriter
    from policies.store import PolicyStore
    from resolvers.loaders import Loaders


class ContextSettings(Protocol):
    """What resolvers read of the hub's settings (``hub.settings.Settings`` has it all)."""

    @property
    def timezone(self) -> str: ...
    @property
    def default_page_size(self) -> int: ...
    @property
    def max_page_size(self) -> int: ...
    @property
    def view_max_features(self) -> int: ...
    @property
    def grant_max_days(self) -> int: ...
    @property
    def address_match_threshold(self) -> float: ...
    @property
    def catalog_exact_statistics_rows(self) -> int: ...


@dataclass
class RequestContext:
    settings: ContextSettings
    engine: AsyncEngine
    now: datetime
    plan: Plan
    request: HTTPConnection | None = None
    #: Who asks; None for in-process use without a token.
    identity: Identity | None = None
    #: The app's policy store and audit writer (None in-process, where there is no app).
    policy_store: PolicyStore | None = None
    audit_writer: AuditWriter | None = None
    #: The request only reads (a query): its connection needs no transaction of its own
    #: (:func:`store.engine.connect`).
    reads_only: bool = False
    loaders: Loaders = field(init=False)
    _connection: AsyncConnection | None = field(default=None, init=False)
    #: What the response holds, for the audit entry: objects returned per type, the ids of
    #: the people returned (noted by the executor as objects complete, not as rows are read:
    #: a page fetched for its ``totalCount`` returns nobody), the fields shown and how.
    row_counts: Counter[str] = field(default_factory=Counter, init=False)
    person_ids: set[int] = field(default_factory=set, init=False)
    answer: Answer = field(default_factory=Answer, init=False)
    #: Fields read other than through the document's selections (a map view's layers), as
    #: (type, field): the audit entry records the plan's decision on them too.
    field_reads: set[tuple[str, str]] = field(default_factory=set, init=False)
    #: Root fields (response keys) the compiled read path answered in this request.
    compiled_fields: list[str] = field(default_factory=list, init=False)
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _closed: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        from resolvers.loaders import Loaders

        self.loaders = Loaders(self)

    @classmethod
    def build(
        cls,
        settings: ContextSettings,
        engine: AsyncEngine,
        plan: Plan,
        request: HTTPConnection | None = None,
        now: datetime | None = None,
        *,
        identity: Identity | None = None,
        connection: AsyncConnection | None = None,
        policy_store: PolicyStore | None = None,
        audit_writer: AuditWriter | None = None,
        reads_only: bool = False,
    ) -> RequestContext:
        """The context of one request; "today" is the district's date, not the server's.
        ``now`` is the app's clock reading (default: the present); ``connection``, one the
        request has taken already (the context gives it back on :meth:`close`)."""
        zone = ZoneInfo(settings.timezone)
        now = datetime.now(zone) if now is None else now.astimezone(zone)
        context = cls(
            settings,
            engine,
            now=now,
            plan=plan,
            request=request,
            identity=identity,
            policy_store=policy_store,
            audit_writer=audit_writer,
            reads_only=reads_only,
        )
        context._connection = connection
        return context

    def rules_for(self, type_name: str, grid_code: str | None) -> FieldRules:
        """The plan's field rules for a row about to become an object."""
        return self.plan.rules(type_name, grid_code)

    def row_scope(self, resource: Resource, site: str) -> list[ColumnElement[bool]]:
        """The plan's row predicate for ``resource`` as WHERE clauses: in every statement.
        ``site`` names the statement (a string literal; see :mod:`policies.row_scope`)."""
        return scoping.row_scope(self.plan, site, resource.name, resource.area)

    @property
    def today(self) -> date:
        """The district's date now (``now`` is in the district's time zone)."""
        return self.now.date()

    async def connection(self) -> AsyncConnection:
        """The request's connection, taken from the pool on first use.

        Refused once the request is closed: a resolver still running after its response was
        answered (graphql-core lets sibling fields finish after an error) must not take a
        connection nobody will give back.
        """
        connection = self._connection
        if connection is None:
            async with self._connecting:
                if self._closed:
                    raise RuntimeError("the request is finished")
                if self._connection is None:
                    self._connection = await connect(self.engine, reads_only=self.reads_only)
                connection = self._connection
        return connection

    async def rows(self, statement: Executable) -> Sequence[Row[Any]]:
        """Run a SELECT on the request's connection and return all its rows."""
        result = await (await self.connection()).execute(statement)
        return result.all()

    async def driver_rows(self, sql: str, parameters: tuple[Any, ...]) -> Sequence[Row[Any]]:
        """Run a SELECT already in the driver's SQL (``resolvers.compiled.dispatch.Driven``)
        on the request's connection and return all its rows."""
        result = await (await self.connection()).exec_driver_sql(sql, parameters)
        return result.all()

    async def close(self) -> None:
        """Give the connection back; no statement runs for this request afterwards."""
        async with self._connecting:
            self._closed = True
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()
