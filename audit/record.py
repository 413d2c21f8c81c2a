"""What the request layer records about a request, and the canonical form every hash covers.

The request layer fills in an :class:`AuditRecord`; the writer adds the chain's columns
(``writer_id``, ``seq``, ``at``, ``prev_hash``) and the hash. Everything the hash covers goes
through :func:`canonical_entry`, which an external auditor can reimplement from this description:

- a JSON object of every entry column except ``id`` and ``hash`` (:data:`ENTRY_FIELDS`);
- keys sorted (at every level), separators ``,`` and ``:``, no whitespace, non-ASCII characters
  written as themselves, encoded in UTF-8;
- times as ISO 8601 in UTC with six fractional digits and ``Z``
  (``2026-11-23T08:00:00.000000Z``);
- no floating-point numbers anywhere (latency is integer microseconds; a float in the
  variables is recorded as its decimal text), so no two JSON libraries can disagree.

The record is normalised when it is built, so that what is stored reads back from either back
end as exactly the same value: empty optional strings become null, text longer than its column
is shortened (PostgreSQL would refuse it, SQLite would keep it), NUL characters and lone
surrogates (which PostgreSQL can not store) become U+FFFD, lists of ids and reads are sorted
and de-duplicated (their order carries no meaning, and the search index holds each once).
"""

from __future__ import annotations

import enum
import functools
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from store.models.audit import (
    ENTRY_TEXT_LIMITS,
    FIELD_NAME_LENGTH,
    PERSON_ID_LENGTH,
    RESOURCE_TYPE_LENGTH,
)

#: The ``prev_hash`` of a chain's first entry.
GENESIS = "0" * 64

#: The columns the canonical form covers, in the order the table declares them.
ENTRY_FIELDS: tuple[str, ...] = (
    "writer_id",
    "seq",
    "at",
    "request_id",
    "subject",
    "principal_kind",
    "department_code",
    "roles",
    "client_id",
    "client_address",
    "operation_name",
    "operation_type",
    "query_hash",
    "variables",
    "purpose",
    "reads",
    "person_ids",
    "row_counts",
    "grant_ids",
    "outcome",
    "error_code",
    "latency_us",
    "prev_hash",
)
#: The columns the writer fills in; the rest come from the :class:`AuditRecord`.
CHAIN_FIELDS = frozenset({"writer_id", "seq", "at", "prev_hash"})

ELLIPSIS = "…"


class Outcome(enum.StrEnum):
    OK = "ok"  # answered in full
    PARTIAL = "partial"  # answered, some fields denied or some errors
    DENIED = "denied"  # refused: not authenticated, or nothing allowed
    ERROR = "error"  # failed: bad request or a server error


class ReadDecision(enum.StrEnum):
    """What an entry records of a field read: one word over every area the caller sees.

    Not ``policies.decision.Decision``, which a plan answers per row and which has
    PURPOSE_REQUIRED besides. The values are stored in entries and hashed: they never change.
    """

    ALLOW = "ALLOW"
    MASK = "MASK"
    DENY = "DENY"


DECISIONS = frozenset(decision.value for decision in ReadDecision)
OUTCOMES = frozenset(outcome.value for outcome in Outcome)
PRINCIPAL_KINDS = frozenset({"person", "client"})
#: GraphQL's operation types, ``token`` for a request to ``/oauth/token``, and ``system`` for
#: a step the hub takes by itself (a grant's expiry, by the sweep).
OPERATION_TYPES = frozenset({"query", "mutation", "subscription", "token", "system"})


def clean_text(value: str) -> str:
    """``value`` with what PostgreSQL can not store (NUL, lone surrogates) made U+FFFD."""
    if value.isascii() and "\x00" not in value:
        return value  # the common case (ids, codes), decided without encoding the text
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _shorten(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + ELLIPSIS


def _text(value: str | None, name: str, *, nullable: bool = True) -> str | None:
    if value is None:
        if not nullable:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    value = _shorten(clean_text(value), ENTRY_TEXT_LIMITS[name])
    return None if nullable and value == "" else value


def _one_of(value: str | None, name: str, allowed: Collection[str]) -> str | None:
    if value is None:
        return None
    text = str(value)
    if text not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")
    return text


def _strings(values: Iterable[str], name: str, limit: int | None = None) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError(f"{name} is a list of strings, not one string")
    values = tuple(values)
    if all(type(value) is str for value in values):
        joined = "".join(values)
        if (
            joined.isascii()
            and "\x00" not in joined
            and (limit is None or all(len(value) <= limit for value in values))
        ):
            return tuple(sorted(set(values)))  # nothing to clean (ids, codes): checked at once
    cleaned = set()
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{name} holds strings, not {type(value).__name__}")
        value = clean_text(value)
        cleaned.add(value if limit is None else _shorten(value, limit))
    return tuple(sorted(cleaned))


def json_value(value: Any) -> Any:
    """``value`` as plain JSON data with no floats: what a JSON column stores and reads back.

    Floats become their shortest decimal text (``1.5`` → ``"1.5"``), tuples become lists, other
    objects (dates, decimals, ids) their ``str``; mapping keys must be strings.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {type(key).__name__}")
            result[clean_text(key)] = json_value(item)
        return result
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return clean_text(str(value))


@dataclass(frozen=True, slots=True, order=True)
class FieldRead:
    """One field of one resource type the request read, and the plan's decision for it."""

    type: str
    field: str
    decision: str

    def as_json(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "decision": self.decision}


def _read(value: FieldRead | Mapping[str, str]) -> FieldRead:
    if isinstance(value, Mapping):
        value = FieldRead(value["type"], value["field"], value["decision"])
    return _normal_read(value.type, value.field, value.decision)


@functools.lru_cache(maxsize=4096)
def _normal_read(type_name: str, field_name: str, decision: str) -> FieldRead:
    """A read as recorded; the same few hundred (type, field, decision) recur in every entry,
    so each is normalised once."""
    return FieldRead(
        _shorten(clean_text(type_name), RESOURCE_TYPE_LENGTH),
        _shorten(clean_text(field_name), FIELD_NAME_LENGTH),
        str(_one_of(decision, "decision", DECISIONS)),
    )


def _read_key(read: FieldRead) -> tuple[str, str, str]:
    return (read.type, read.field, read.decision)


@dataclass(frozen=True)
class AuditRecord:
    """One request as the request layer saw it; normalised when built (see the module doc).

    ``variables`` must already have sensitive values redacted: the log keeps them forever.
    ``reads`` are :class:`FieldRead` or ``{"type", "field", "decision"}`` mappings;
    ``person_ids`` the ids of the personal records the response returned.
    """

    request_id: str
    outcome: str
    latency_us: int
    subject: str | None = None
    principal_kind: str | None = None
    department_code: str | None = None
    roles: Collection[str] = ()
    client_id: str | None = None
    client_address: str | None = None
    operation_name: str | None = None
    operation_type: str | None = None
    query_hash: str | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    purpose: str | None = None
    reads: Collection[FieldRead | Mapping[str, str]] = ()
    person_ids: Collection[str] = ()
    row_counts: Mapping[str, int] = field(default_factory=dict)
    grant_ids: Collection[str] = ()
    error_code: str | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in (
            "subject",
            "department_code",
            "client_id",
            "client_address",
            "operation_name",
            "query_hash",
            "purpose",
            "error_code",
        ):
            put(name, _text(getattr(self, name), name))
        put("request_id", _text(self.request_id, "request_id", nullable=False))
        put("outcome", _one_of(self.outcome, "outcome", OUTCOMES))
        put("principal_kind", _one_of(self.principal_kind, "principal_kind", PRINCIPAL_KINDS))
        put("operation_type", _one_of(self.operation_type, "operation_type", OPERATION_TYPES))
        if isinstance(self.latency_us, bool) or not isinstance(self.latency_us, int):
            raise TypeError("latency_us is an integer number of microseconds")
        if self.latency_us < 0:
            raise ValueError("latency_us can not be negative")
        if not isinstance(self.variables, Mapping):
            raise TypeError("variables is a JSON object")
        put("variables", json_value(self.variables))
        put("roles", _strings(self.roles, "roles"))
        put("person_ids", _strings(self.person_ids, "person_ids", PERSON_ID_LENGTH))
        put("grant_ids", _strings(self.grant_ids, "grant_ids"))
        put("reads", tuple(sorted({_read(read) for read in self.reads}, key=_read_key)))
        counts = {}
        for name, count in self.row_counts.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise TypeError(f"row_counts[{name!r}] must be a whole number, not {count!r}")
            counts[clean_text(str(name))] = count
        put("row_counts", counts)

    def columns(self) -> dict[str, Any]:
        """The entry columns this record fills, as the JSON columns store them."""
        return {
            "request_id": self.request_id,
            "subject": self.subject,
            "principal_kind": self.principal_kind,
            "department_code": self.department_code,
            "roles": list(self.roles),
            "client_id": self.client_id,
            "client_address": self.client_address,
            "operation_name": self.operation_name,
            "operation_type": self.operation_type,
            "query_hash": self.query_hash,
            "variables": self.variables,
            "purpose": self.purpose,
            "reads": [read.as_json() for read in self.reads],  # type: ignore[union-attr]
            "person_ids": list(self.person_ids),
            "row_counts": dict(self.row_counts),
            "grant_ids": list(self.grant_ids),
            "outcome": self.outcome,
            "error_code": self.error_code,
            "latency_us": self.latency_us,
        }


def render_time(at: datetime) -> str:
    """A time as the canonical form writes it: UTC, microseconds, ``Z``."""
    if at.tzinfo is None:
        raise ValueError("naive datetimes are not recorded; attach a time zone")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """The aware UTC datetime of an ISO 8601 text that names its offset (``Z`` included)."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} names no time zone")
    return at.astimezone(UTC)


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys, no whitespace, UTF-8; never a float, NaN or infinity."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    # surrogatepass: a tampered export may hold a lone surrogate; it must hash, not crash.
    return text.encode("utf-8", "surrogatepass")


def canonical_json_of_record(value: Any) -> bytes:
    """:func:`canonical_json` of JSON data the hub built itself, written by orjson.

    For data without floats — what :func:`json_value` and :class:`AuditRecord` produce — orjson
    writes exactly the canonical bytes (sorted keys, no whitespace, the same escapes; a test
    checks this for any such data), several times faster. Data from elsewhere (an entry read
    back for verification, an export's line) goes through :func:`canonical_json`, which refuses
    NaN where orjson would write ``null``. What orjson refuses here (an integer beyond 64 bits)
    falls back to it as well.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return canonical_json(value)


def entry_document(values: Mapping[str, Any]) -> dict[str, Any]:
    """The object the canonical form serialises: :data:`ENTRY_FIELDS`, time as text.

    ``values`` is a row read from the database or a line of an export (``at`` a datetime or
    its text); a missing field raises ``KeyError``.
    """
    document = {name: values[name] for name in ENTRY_FIELDS}
    at = document["at"]
    document["at"] = render_time(at if isinstance(at, datetime) else parse_time(at))
    return document


def canonical_entry(values: Mapping[str, Any], *, built: bool = False) -> bytes:
    """The bytes an entry's hash covers (with its ``prev_hash``, see :mod:`audit.chain`);
    ``built``: the values are the writer's own, from an :class:`AuditRecord`."""
    document = entry_document(values)
    return canonical_json_of_record(document) if built else canonical_json(document)
