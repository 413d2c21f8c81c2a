"""Feed declarations in the catalogue files: ``[[feed]]`` tables beside the ``[[resource]]``s.

A department declares each export its system sends the hub::

    [[feed]]
    code = "GA-RK-FEED"
    name = "实有人口每日导出"
    department = "public_security"
    resource = "GA-RK-001"          # the catalogue resource it fills
    target = "people"               # people | houses | rooms | entities | events
    key = "idNumber"                # the natural key's hub field
    format = "csv"                  # csv | xlsx | jsonl
    mode = "snapshot"               # snapshot | delta
    update_frequency = "DAILY"
    address = "居住地址"             # the source column the matcher places
    encoding = "gb18030"            # CSV only; default utf-8-sig
    operation = "操作类型"           # delta only: insert / update / delete per row

    [feed.columns]                  # hub field = the source's column name
    idNumber = "公民身份号码"
    name = "姓名"

    [feed.values.registration]      # the source's spelling = the hub's value
    "户籍" = "LOCAL"

Every problem of every declaration is reported at once, like the resources'.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any

from catalog.feed_targets import TARGETS, Kind
from catalog.files import CatalogFileError, toml_files
from catalog.resources import UpdateFrequency

FORMATS = ("csv", "xlsx", "jsonl")
MODES = ("snapshot", "delta")
KEYS = frozenset(
    {
        "code",
        "name",
        "department",
        "resource",
        "target",
        "key",
        "format",
        "mode",
        "update_frequency",
        "address",
        "encoding",
        "operation",
        "columns",
        "values",
    }
)
#: ``GA-RK-FEED``: upper-case letters and digits in groups joined by hyphens.
CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+")
CODE_LENGTH = 48


@dataclass(frozen=True)
class FeedDefinition:
    """A feed as its file declares it."""

    code: str
    name: str
    department: str
    resource: str
    target: str
    key: str
    format: str
    mode: str
    update_frequency: str
    address: str | None
    columns: Mapping[str, str]
    #: Per hub field: the source's spellings of values, each to the hub's value name.
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    encoding: str = "utf-8-sig"
    operation: str | None = None
    source: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The declaration as stored (``feeds.definition``)."""
        return {
            "code": self.code,
            "name": self.name,
            "department": self.department,
            "resource": self.resource,
            "target": self.target,
            "key": self.key,
            "format": self.format,
            "mode": self.mode,
            "update_frequency": self.update_frequency,
            "address": self.address,
            "columns": dict(self.columns),
            "values": {name: dict(spellings) for name, spellings in self.values.items()},
            "encoding": self.encoding,
            "operation": self.operation,
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any], source: str | None = None) -> FeedDefinition:
        return cls(
            code=value["code"],
            name=value["name"],
            department=value["department"],
            resource=value["resource"],
            target=value["target"],
            key=value["key"],
            format=value["format"],
            mode=value["mode"],
            update_frequency=value["update_frequency"],
            address=value.get("address"),
            columns=dict(value["columns"]),
            values={k: dict(v) for k, v in (value.get("values") or {}).items()},
            encoding=value.get("encoding") or "utf-8-sig",
            operation=value.get("operation"),
            source=source,
        )


def _text(table: Mapping[str, Any], key: str, problems: list[str], where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: `{key}` is required text")
        return ""
    return value.strip()


def _optional(table: Mapping[str, Any], key: str, problems: list[str], where: str) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{where}: `{key}` is text")
        return None
    return value.strip()


def _mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def parse_feed(table: Any, where: str, source: str | None = None) -> FeedDefinition:
    """One ``[[feed]]`` table, checked on its own (departments and resources are checked by
    :func:`feed_problems` against the database)."""
    if not isinstance(table, dict):
        raise CatalogFileError([f"{where}: a [[feed]] is a table"])
    problems: list[str] = []
    for key in table:
        if key not in KEYS:
            problems.append(f"{where}: unknown key `{key}` (known: {', '.join(sorted(KEYS))})")
    code = _text(table, "code", problems, where)
    if code and (len(code) > CODE_LENGTH or not CODE_PATTERN.fullmatch(code)):
        problems.append(f"{where}: code {code!r} is upper-case letters and digits joined by -")
    target_name = _text(table, "target", problems, where)
    target = TARGETS.get(target_name)
    if target_name and target is None:
        problems.append(f"{where}: target {target_name!r} is not one of {', '.join(TARGETS)}")
    fmt = _text(table, "format", problems, where)
    if fmt and fmt not in FORMATS:
        problems.append(f"{where}: format {fmt!r} is not one of {', '.join(FORMATS)}")
    mode = _text(table, "mode", problems, where)
    if mode and mode not in MODES:
        problems.append(f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
    frequency = _text(table, "update_frequency", problems, where)
    if frequency and frequency not in UpdateFrequency.__members__:
        problems.append(
            f"{where}: update_frequency {frequency!r} is not one of "
            + ", ".join(UpdateFrequency.__members__)
        )
    columns = table.get("columns", {})
    if not _mapping(columns) or not columns:
        problems.append(f"{where}: [feed.columns] maps hub fields to the source's column names")
        columns = {}
    values = table.get("values", {})
    if not isinstance(values, dict) or not all(_mapping(v) for v in values.values()):
        problems.append(f"{where}: [feed.values.FIELD] maps the source's spellings to hub values")
        values = {}
    key = _text(table, "key", problems, where)
    operation = _optional(table, "operation", problems, where)
    if mode == "delta" and operation is None:
        problems.append(f"{where}: a delta feed names its `operation` column")
    if mode == "snapshot" and operation is not None:
        problems.append(f"{where}: a snapshot feed has no `operation` column")
    address = _optional(table, "address", problems, where)
    if target is not None:
        if key and key != target.key:
            problems.append(f"{where}: the key of a {target_name} feed is `{target.key}`")
        for name in columns:
            if name not in target.fields:
                problems.append(
                    f"{where}: {target.graphql_type} has no field `{name}` a feed can fill "
                    f"(it can fill: {', '.join(target.fields)})"
                )
        missing = sorted(
            name
            for name in target.required
            if name not in columns and target.derived.get(name) not in columns
        )
        if missing:
            problems.append(f"{where}: new rows need these fields mapped: {', '.join(missing)}")
        if address is None:
            problems.append(f"{where}: `address` names the column the matcher places")
        for name, spellings in values.items():
            spec = target.fields.get(name)
            if spec is None or spec.kind not in (Kind.ENUM, Kind.CARE_TAGS, Kind.CODE):
                problems.append(f"{where}: [feed.values.{name}] is only for enum fields")
                continue
            if spec.kind is Kind.CODE:
                continue  # the hub's list is checked at the run
            for spelling, hub in spellings.items():
                if hub.lower() not in spec.values:
                    problems.append(
                        f"{where}: [feed.values.{name}] {spelling!r} = {hub!r} is not one of "
                        + ", ".join(v.upper() for v in spec.values)
                    )
    if problems:
        raise CatalogFileError(problems)
    return FeedDefinition(
        code=code,
        name=_text(table, "name", problems, where) or code,
        department=_text(table, "department", problems, where),
        resource=_text(table, "resource", problems, where),
        target=target_name,
        key=key,
        format=fmt,
        mode=mode,
        update_frequency=frequency,
        address=address,
        columns=dict(columns),
        values={k: dict(v) for k, v in values.items()},
        encoding=_optional(table, "encoding", problems, where) or "utf-8-sig",
        operation=operation,
        source=source,
    )


def read_feeds(name: str, text: str) -> list[FeedDefinition]:
    """The ``[[feed]]`` declarations of one catalogue file."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogFileError([f"{name}: not valid TOML: {error}"]) from None
    tables = document.get("feed", [])
    if not isinstance(tables, list):
        raise CatalogFileError([f"{name}: write each feed as [[feed]]"])
    found: list[FeedDefinition] = []
    problems: list[str] = []
    for number, table in enumerate(tables, start=1):
        where = f"{name}, feed {number}" + (
            f" ({table['code']})" if isinstance(table, dict) and "code" in table else ""
        )
        try:
            found.append(parse_feed(table, where, name))
        except CatalogFileError as error:
            problems.extend(error.problems)
    if problems:
        raise CatalogFileError(problems)
    return found


def read_feed_directory(directory: Traversable) -> list[FeedDefinition]:
    """Every feed of every ``*.toml`` file in ``directory``; a code declared twice is a
    problem."""
    found: list[FeedDefinition] = []
    problems: list[str] = []
    for path in toml_files(directory):
        try:
            found.extend(read_feeds(path.name, path.read_text(encoding="utf-8")))
        except CatalogFileError as error:
            problems.extend(error.problems)
    seen: dict[str, str | None] = {}
    for feed in found:
        if feed.code in seen:
            problems.append(f"feed {feed.code} is in {seen[feed.code]} and again in {feed.source}")
        seen.setdefault(feed.code, feed.source)
    if problems:
        raise CatalogFileError(problems)
    return found


def feed_problems(
    feed: FeedDefinition, departments: Collection[str], resources: Mapping[str, tuple[str, str]]
) -> list[str]:
    """What the database says is wrong with ``feed``: its department, and its resource (which
    must exist, belong to the feed's department and map to the target's type).
    ``resources`` maps each resource code to (department, GraphQL type)."""
    where = f"{feed.source}: feed {feed.code}"
    found = []
    if feed.department not in departments:
        found.append(f"{where}: there is no department `{feed.department}`")
    resource = resources.get(feed.resource)
    target = TARGETS[feed.target]
    if resource is None:
        found.append(f"{where}: there is no catalogue resource `{feed.resource}`")
    else:
        owner, type_name = resource
        if owner != feed.department:
            found.append(f"{where}: resource {feed.resource} belongs to {owner}, not the feed's")
        if type_name != target.graphql_type:
            found.append(
                f"{where}: resource {feed.resource} holds {type_name}, a {feed.target} feed "
                f"fills {target.graphql_type}"
            )
    return found
