"""Checking one source row against its feed: every value read, converted and checked.

A row either becomes a :class:`Checked` row (the values by the target's column, the key, the
operation, the address text) or a :class:`Reject` with a stable ``code`` and a reason in
words. A bad value never stops the run; the run reports it by line.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from catalog.feed_files import FeedDefinition
from catalog.feed_targets import Kind, Target, TargetField
from feeds.checksums import is_valid_credit_code, is_valid_id_number
from feeds.read import BAD_LINE
from store.models import encode_care_tags

#: Reject codes, stable: reports and tests read them.
MISSING_KEY = "missing_key"
DUPLICATE_KEY = "duplicate_key"
INVALID_ID_NUMBER = "invalid_id_number"
INVALID_CREDIT_CODE = "invalid_credit_code"
BAD_DATE = "bad_date"
UNKNOWN_VALUE = "unknown_value"
MISSING_VALUE = "missing_value"
BAD_PHONE = "bad_phone"
TOO_LONG = "too_long"
UNDECODABLE = "undecodable"
BAD_LINE_CODE = "bad_line"
BAD_OPERATION = "bad_operation"
BAD_NUMBER = "bad_number"
OUT_OF_RANGE = "out_of_range"

UPSERT = "upsert"
DELETE = "delete"
#: A rejected row whose key was readable: a snapshot run keeps its stored row (a bad value
#: in today's export does not mean the resident left).
KEEP = "keep"

#: Spellings of a delta row's operation.
OPERATIONS = {
    "i": UPSERT,
    "insert": UPSERT,
    "u": UPSERT,
    "update": UPSERT,
    "upsert": UPSERT,
    "新增": UPSERT,
    "修改": UPSERT,
    "变更": UPSERT,
    "d": DELETE,
    "delete": DELETE,
    "删除": DELETE,
    "注销": DELETE,
    "撤单": DELETE,
    "撤销": DELETE,
}

_DATE_PATTERNS = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})"),
    re.compile(r"(\d{4})(\d{2})(\d{2})"),
    re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"),
)
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
#: The zone of a time written without one (China Standard Time, the exports' own).
LOCAL_ZONE = timezone(timedelta(hours=8))
_PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}\d{7,8}")
_PHONE_NOISE = re.compile(r"[\s\-()（）+]")
_TAG_SEPARATORS = re.compile(r"[,，;；、|\s]+")


@dataclass(frozen=True, slots=True)
class Reject:
    """A row the run did not take, and why."""

    line: int
    key: str | None
    field: str | None
    code: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "key": self.key,
            "field": self.field,
            "code": self.code,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Checked:
    """A row ready to stage: its key, operation, column values and address text."""

    line: int
    key: str
    op: str
    values: dict[str, Any]
    address: str | None


class _Bad(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    for pattern in _DATE_PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            try:
                return date(int(found[1]), int(found[2]), int(found[3]))
            except ValueError:
                break
    raise _Bad(BAD_DATE, f"{text!r} is not a date (2026-11-01, 2026/11/01, 20261101)")


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=LOCAL_ZONE)
    text = _text(value)
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        found = None
    if found is None:
        day, _, clock = text.replace("T", " ").partition(" ")
        at = _TIME.fullmatch(clock.strip()) if clock.strip() else None
        if clock.strip() and at is None:
            raise _Bad(BAD_DATE, f"{text!r} is not a time (2026-11-01 08:30:00)")
        try:
            moment = time(int(at[1]), int(at[2]), int(at[3] or 0)) if at else time()
        except ValueError:
            raise _Bad(BAD_DATE, f"{text!r} is not a time (2026-11-01 08:30:00)") from None
        found = datetime.combine(_date(day), moment)
    return found if found.tzinfo is not None else found.replace(tzinfo=LOCAL_ZONE)


def _number(spec: TargetField, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Bad(BAD_NUMBER, f"{text!r} is not a number") from None
    if spec.kind is Kind.INTEGER and not value.is_integer():
        raise _Bad(BAD_NUMBER, f"{text!r} is not a whole number")
    if spec.bounds is not None and not spec.bounds[0] <= value <= spec.bounds[1]:
        low, high = (f"{b:g}" for b in spec.bounds)
        raise _Bad(OUT_OF_RANGE, f"{text} is not between {low} and {high}")
    return value


def _enum(spec: TargetField, text: str, spellings: dict[str, str]) -> str:
    mapped = spellings.get(text)
    if mapped is not None:
        return mapped.lower()
    if text.lower() in spec.values:
        return text.lower()
    raise _Bad(
        UNKNOWN_VALUE,
        f"{text!r} is not one of {', '.join(v.upper() for v in spec.values)}"
        + (f" or {', '.join(spellings)}" if spellings else ""),
    )


def _convert(
    spec: TargetField, raw: Any, spellings: dict[str, str], known: Collection[str] = ()
) -> Any:
    """The stored value of one source value (None for an empty one)."""
    if spec.kind is Kind.DATE:
        return None if _text(raw) == "" else _date(raw)
    if spec.kind is Kind.DATETIME:
        return None if _text(raw) == "" else _datetime(raw)
    text = _text(raw)
    if text == "":
        return None
    if "\ufffd" in text:
        raise _Bad(UNDECODABLE, "the value has characters the file's encoding could not read")
    if spec.kind is Kind.INTEGER:
        return int(_number(spec, text))
    if spec.kind is Kind.NUMBER:
        return _number(spec, text)
    if spec.kind is Kind.CODE:
        code = spellings.get(text, text)
        if code not in known:
            raise _Bad(UNKNOWN_VALUE, f"{text!r} is not in the hub's list")
        return code
    if spec.kind is Kind.TEXT:
        if spec.max_length is not None and len(text) > spec.max_length:
            raise _Bad(TOO_LONG, f"longer than {spec.max_length} characters")
        return text
    if spec.kind is Kind.ID_NUMBER:
        text = text.upper()
        if not is_valid_id_number(text):
            raise _Bad(
                INVALID_ID_NUMBER,
                "not an ID number (18 characters, a real birth date and the GB 11643 check digit)",
            )
        return text
    if spec.kind is Kind.CREDIT_CODE:
        text = text.upper()
        if not is_valid_credit_code(text):
            raise _Bad(
                INVALID_CREDIT_CODE, "not a unified social credit code (GB 32100 check characters)"
            )
        return text
    if spec.kind is Kind.PHONE:
        digits = _PHONE_NOISE.sub("", text)
        if digits.startswith("86") and len(digits) == 13:
            digits = digits[2:]
        if not _PHONE.fullmatch(digits):
            raise _Bad(BAD_PHONE, "not a phone number (a mobile's 11 digits, or a landline)")
        return digits
    if spec.kind is Kind.ENUM:
        return _enum(spec, text, spellings)
    # CARE_TAGS
    tags = [_enum(spec, tag, spellings) for tag in _TAG_SEPARATORS.split(text) if tag]
    return encode_care_tags(sorted(set(tags)))


def _from_id_number(id_number: str) -> dict[str, Any]:
    """What an ID number says: the birth date (digits 7-14), the gender (the 17th digit)."""
    return {
        "birth_date": date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14])),
        "gender": "male" if int(id_number[16]) % 2 else "female",
    }


class RowChecker:
    """Checks the rows of one feed (the columns looked up once)."""

    def __init__(
        self,
        feed: FeedDefinition,
        target: Target,
        known: Mapping[str, Collection[str]] | None = None,
    ) -> None:
        """``known``: for each CODE field, the codes the hub keeps (an event's matters)."""
        self.feed = feed
        self.known = known or {}
        self.target = target
        self.key_source = feed.columns[target.key]
        self.key_spec = target.fields[target.key]
        self.fields = [
            (target.fields[name], source, dict(feed.values.get(name, {})))
            for name, source in feed.columns.items()
            if name != target.key
        ]
        self.derive = target.name == "people" and not all(
            name in feed.columns for name in ("gender", "birthDate")
        )

    def check(self, line: int, row: dict[str, Any]) -> Checked | Reject:
        bad = row.get(BAD_LINE)
        if bad is not None:
            return Reject(line, None, None, BAD_LINE_CODE, str(bad))
        raw_key = _text(row.get(self.key_source))
        if raw_key == "":
            return Reject(
                line, None, self.target.key, MISSING_KEY, f"no {self.key_source!r} (the key)"
            )
        try:
            key = _convert(self.key_spec, raw_key, {})
        except _Bad as error:
            return Reject(line, raw_key, self.target.key, error.code, error.reason)
        op = UPSERT
        if self.feed.operation is not None:
            op_text = _text(row.get(self.feed.operation)).lower()
            found = OPERATIONS.get(op_text)
            if found is None:
                return Reject(
                    line,
                    key,
                    None,
                    BAD_OPERATION,
                    f"operation {op_text!r} is not insert, update or delete (I/U/D)",
                )
            op = found
        values: dict[str, Any] = {self.key_spec.column: key}
        if op == DELETE:
            return Checked(line, key, op, values, None)
        for spec, source, spellings in self.fields:
            try:
                value = _convert(spec, row.get(source), spellings, self.known.get(spec.name, ()))
            except _Bad as error:
                return Reject(line, key, spec.name, error.code, f"{source}: {error.reason}")
            if value is None and spec.name in self.target.required:
                return Reject(line, key, spec.name, MISSING_VALUE, f"{source}: no value")
            values[spec.column] = value
        if self.derive:
            for column, value in _from_id_number(key).items():
                values.setdefault(column, value)
        address = None
        if self.feed.address is not None:
            address = _text(row.get(self.feed.address)) or None
        return Checked(line, key, op, values, address)
