"""The data-resource catalogue (数据资源目录) in GraphQL: ``catalog(filter)``, ``resource(code)``.

The catalogue is metadata — what data the district holds, who owns it, how it is shared — so
any authenticated principal may browse it, whatever its rules on the data itself; statistics
are counts over the whole district, never values. Tiers and masks are read from each field's
one declaration (:mod:`policies.fields`) and data types from this schema, when asked: nothing of
either is stored with a resource.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from catalog import freshness, store
from catalog.columns import STORED
from catalog.resources import Origin, Sharing, UpdateFrequency, cataloguable_types, highest_tier
from catalog.statistics import StatisticsCache
from catalog.store import CatalogQuery, StoredResource, StoredVersion
from policies.fields import FIELDS, RESOURCE_OF_TYPE, Mask, Tier, declaration
from schema.base import Info, described
from store.errors import BadUserInput

strawberry.enum(
    Sharing,
    name="SharingAttribute",
    description="共享属性: UNCONDITIONAL 无条件共享, CONDITIONAL 有条件共享, NOT_SHARED 不予共享.",
)
strawberry.enum(UpdateFrequency, description="How often the owner refreshes the data (更新周期).")
strawberry.enum(
    Origin,
    name="ResourceOrigin",
    description="FILE: kept in a catalogue file (change it there); API: registered through "
    "`registerResource`.",
)
strawberry.enum(
    Mask, name="MaskRule", description="What a MASK decision shows instead of the value."
)

#: The catalogue's types: metadata any authenticated principal may read, not shared data (so
#: they have no declaration in ``policies.fields``; the test of declarations skips them).
METADATA_TYPES = frozenset(
    {
        "DataResource",
        "ResourceField",
        "ValueTier",
        "ResourceStatistics",
        "FieldCompleteness",
        "ResourceVersion",
        "ResourceChange",
    }
)


@strawberry.type(description="The tier of one value of a field whose values differ (care tags).")
class ValueTier:
    value: str
    tier: int


@strawberry.type(description="A field of a resource, classified by its one declaration.")
class ResourceField:
    name: str = strawberry.field(description="The field of the resource's GraphQL type.")
    description: str = strawberry.field(description="What it holds, in the owner's words.")
    tier: int = strawberry.field(
        description="Data tier: 1 public, 2 internal, 3 sensitive, 4 core."
    )
    mask: Mask = strawberry.field(description="What a masked read shows.")
    value_tiers: list[ValueTier] = strawberry.field(
        description="Per value, when values differ in tier (care tags); else empty."
    )
    _type_name: strawberry.Private[str]

    @described("Its GraphQL type as an app receives it: `String`, `[CareTag!]`.")
    def data_type(self, info: Info) -> str:
        graphql_type = info._raw_info.schema.get_type(self._type_name)
        return str(graphql_type.fields[self.name].type)  # type: ignore[union-attr]

    @classmethod
    def of(cls, type_name: str, name: str, description: str) -> ResourceField:
        spec = declaration(type_name, name)
        return cls(
            name=name,
            description=description,
            tier=int(spec.tier),
            mask=spec.mask,
            value_tiers=[ValueTier(value=v, tier=int(t)) for v, t in spec.value_tiers.items()],
            _type_name=type_name,
        )


@strawberry.enum(description="How a resource's statistics were obtained.")
class StatisticsMethod(enum.Enum):
    EXACT = strawberry.enum_value("exact", description="Counted now, row by row.")
    ESTIMATED = strawberry.enum_value(
        "estimated",
        description="The planner's row count and a sample's share of values (a large table).",
    )


@strawberry.type(description="How many rows have a value for one field.")
class FieldCompleteness:
    field: str
    filled: int = strawberry.field(description="Rows with a value (not null, not empty).")
    completeness: float | None = strawberry.field(
        description="`filled` / `rowCount`, from 0 to 1; null when there are no rows."
    )


@strawberry.type(
    description="Live counts of a resource's data over the whole district (never values)."
)
class ResourceStatistics:
    row_count: int = strawberry.field(description="Rows of the resource's type in the district.")
    last_updated: datetime | None = strawberry.field(
        description="The newest time the rows carry (see `lastUpdatedFrom`); null when they "
        "carry none. A date counts from its start, in the district's time zone."
    )
    last_updated_from: list[str] = strawberry.field(
        description="The fields `lastUpdated` is the newest value of, e.g. `Event.reportedAt`."
    )
    fields: list[FieldCompleteness] = strawberry.field(
        description="Completeness of each of the resource's fields, in the resource's order."
    )
    method: StatisticsMethod = strawberry.field(
        description="EXACT: counted now; ESTIMATED: the row count and `filled` estimated (a "
        "large table on PostgreSQL), `lastUpdated` still exact."
    )


@strawberry.type(description="A resource after one change, as it was then.")
class ResourceVersion:
    version: int
    at: datetime
    changed_by: str = strawberry.field(
        description="The data officer's subject, or who ran `gridhub catalog sync`."
    )
    origin: Origin
    source: str | None = strawberry.field(description="The catalogue file, for FILE.")
    definition: JSON = strawberry.field(
        description="The whole definition: code, name, summary, department, graphqlType, "
        "fields (name, description), sharing, sharingCondition, updateFrequency."
    )

    @classmethod
    def of(cls, stored: StoredVersion) -> ResourceVersion:
        return cls(
            version=stored.version,
            at=stored.at,
            changed_by=stored.changed_by,
            origin=stored.origin,
            source=stored.source,
            definition=JSON(stored.definition),
        )


class Shown:
    """What the resources of one answer share: the statistics measured and the versions read
    once for all of them (one statement per table, one for every resource's versions)."""

    def __init__(self, info: Info, codes: Sequence[str]) -> None:
        context = info.context
        self.statistics = StatisticsCache(
            context.connection,
            context.settings.timezone,
            context.settings.catalog_exact_statistics_rows,
        )
        self._context = context
        self._codes = list(codes)
        self._versions: dict[str, list[StoredVersion]] | None = None
        self._feeds: dict[str, list[freshness.FeedFreshness]] | None = None
        self._lock = asyncio.Lock()

    async def feeds(self, code: str) -> list[freshness.FeedFreshness]:
        """The feeds filling the resource, read once for every resource shown."""
        async with self._lock:
            if self._feeds is None:
                connection = await self._context.connection()
                self._feeds = await freshness.feeds_of(connection, self._codes)
            return self._feeds.get(code, [])

    async def versions(self, code: str) -> list[StoredVersion]:
        async with self._lock:
            if self._versions is None:
                connection = await self._context.connection()
                self._versions = await store.versions(connection, self._codes)
            return self._versions.get(code, [])


@strawberry.type(description="A shared data set (数据资源) in the catalogue.")
class DataResource:
    code: str = strawberry.field(description="The catalogue code, e.g. `RK-JC-001`.")
    name: str
    summary: str
    department_code: str = strawberry.field(description="The owning department's code.")
    department_name: str
    graphql_type: str = strawberry.field(
        description="The GraphQL type it maps to; its fields are fields of that type."
    )
    policy_resource: str = strawberry.field(
        description="The resource name access rules use for that type (`people`, `houses` …)."
    )
    sharing: Sharing
    sharing_condition: str | None = strawberry.field(
        description="The condition in words (CONDITIONAL), or the legal basis (NOT_SHARED)."
    )
    update_frequency: UpdateFrequency
    highest_tier: int = strawberry.field(
        description="The tier of its most sensitive value (per-value tiers count)."
    )
    fields: list[ResourceField]
    origin: Origin
    source: str | None = strawberry.field(description="The catalogue file it is kept in.")
    version: int = strawberry.field(description="Its current version, from 1.")
    updated_at: datetime
    updated_by: str
    _shown: strawberry.Private[Shown]

    @classmethod
    def of(cls, stored: StoredResource, shown: Shown) -> DataResource:
        definition = stored.definition
        type_name = definition.graphql_type
        return cls(
            code=definition.code,
            name=definition.name,
            summary=definition.summary,
            department_code=definition.department,
            department_name=stored.department_name,
            graphql_type=type_name,
            policy_resource=RESOURCE_OF_TYPE[type_name],
            sharing=definition.sharing,
            sharing_condition=definition.sharing_condition,
            update_frequency=definition.update_frequency,
            highest_tier=int(highest_tier(type_name, definition.field_names)),
            fields=[ResourceField.of(type_name, f.name, f.description) for f in definition.fields],
            origin=stored.origin,
            source=stored.source,
            version=stored.version,
            updated_at=stored.updated_at,
            updated_by=stored.updated_by,
            _shown=shown,
        )

    @described(
        "Rows, completeness and last update, counted now; on PostgreSQL a table larger than "
        "`GRIDHUB_CATALOG_EXACT_STATISTICS_ROWS` is estimated instead (see `method`)."
    )
    async def statistics(self) -> ResourceStatistics:
        measured = await self._shown.statistics.of(self.graphql_type)
        return ResourceStatistics(
            row_count=measured.rows,
            method=StatisticsMethod(measured.method.value),
            last_updated=measured.last_changed,
            last_updated_from=[
                f"{self.graphql_type}.{name}" for name in STORED[self.graphql_type].changed_at
            ],
            fields=[
                FieldCompleteness(
                    field=f.name,
                    filled=measured.filled[f.name],
                    completeness=measured.completeness(f.name),
                )
                for f in self.fields
            ],
        )

    @described(
        "True when a feed filling the resource is late: its last successful run is older "
        "than its declared update frequency and half of it again (or it never ran); false "
        "when none is; null when no feed fills it (nothing is expected, so nothing is late)."
    )
    async def stale(self, info: Info) -> bool | None:
        return freshness.stale(await self._shown.feeds(self.code), info.context.now)

    @described("Every version, newest first.")
    async def versions(self) -> list[ResourceVersion]:
        return [ResourceVersion.of(v) for v in await self._shown.versions(self.code)]


@strawberry.input(description="Which resources to list; every filter given must hold.")
class CatalogFilter:
    department: str | None = strawberry.field(
        default=None, description="The owning department's code."
    )
    graphql_type: str | None = strawberry.field(
        default=None, description="The GraphQL type, e.g. `Person`."
    )
    sharing: Sharing | None = None
    tier: int | None = strawberry.field(
        default=None, description="Holds a field with data of this tier (1–4)."
    )
    max_tier: int | None = strawberry.field(
        default=None, description="Holds no data above this tier (1–4)."
    )
    text: str | None = strawberry.field(
        default=None,
        description="Found, ignoring case, in the code, name, summary, or a field's name or "
        "description.",
    )


def _tier(value: int | None, name: str) -> int | None:
    if value is not None and value not in {int(t) for t in Tier}:
        raise BadUserInput(f"`{name}` is a tier from 1 to 4", field=name)
    return value


async def _query(info: Info, given: CatalogFilter | None) -> CatalogQuery:
    """The filter checked: a type or department that does not exist is a mistake to report,
    not a reason to answer an empty list."""
    if given is None:
        return CatalogQuery()
    if given.graphql_type is not None and given.graphql_type not in FIELDS:
        raise BadUserInput(
            f"`{given.graphql_type}` is not a type of this API; catalogued types: "
            + ", ".join(cataloguable_types()),
            field="graphqlType",
        )
    if given.department is not None:
        known = await store.department_codes(await info.context.connection())
        if given.department not in known:
            raise BadUserInput(f"There is no department `{given.department}`", field="department")
    return CatalogQuery(
        department=given.department,
        graphql_type=given.graphql_type,
        sharing=given.sharing,
        tier=_tier(given.tier, "tier"),
        max_tier=_tier(given.max_tier, "maxTier"),
        text=given.text,
    )


def shown(info: Info, found: Sequence[StoredResource]) -> list[DataResource]:
    """The GraphQL objects of resources shown together in one answer."""
    together = Shown(info, [s.definition.code for s in found])
    return [DataResource.of(s, together) for s in found]


async def resolve_catalog(info: Info, filter: CatalogFilter | None = None) -> list[DataResource]:
    """The catalogue, in code order."""
    query = await _query(info, filter)
    return shown(info, await store.search(await info.context.connection(), query))


async def resolve_resource(info: Info, code: str) -> DataResource | None:
    """One resource by its code; null when there is none."""
    found = await store.get(await info.context.connection(), code)
    return None if found is None else shown(info, [found])[0]
