"""Catalogue files: the district's resources, kept in version control as TOML.

Each ``*.toml`` file in ``catalog/resources/`` (one per owning department, by convention)
holds ``[[resource]]`` tables; ``gridhub catalog sync`` loads them. A file never states a tier
or a mask — a key it does not know is an error rather than ignored, so ``tier = 3`` written
by habit is caught instead of silently disagreeing with ``catalog/fields.py``::

    [[resource]]
    code = "FW-JC-001"
    name = "房屋基础信息"
    summary = "全区房屋（一楼一码）的地址、用途、层数与所属网格。"
    department = "housing"
    type = "House"
    sharing = "UNCONDITIONAL"
    update_frequency = "WEEKLY"

    [resource.fields]
    code = "楼栋编码（一楼一码）"
    address = "统一地址"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from catalog.resources import Definition, FieldEntry, Sharing, UpdateFrequency

KEYS = frozenset(
    {"code", "name", "summary", "department", "type", "sharing", "condition", "update_frequency"}
)
DECLARED_ELSEWHERE = frozenset({"tier", "tiers", "mask", "masks", "masking"})


class CatalogFileError(Exception):
    """One or more catalogue files can not be read; ``problems`` says where and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class FileResource:
    """A resource as a file defines it, and the file's name (its ``source``)."""

    definition: Definition
    source: str


def packaged_directory() -> Traversable:
    """The catalogue files shipped with gridhub (``catalog/resources/``)."""
    return files("catalog").joinpath("resources")


def _enum_member(kind: type[Sharing] | type[UpdateFrequency], value: Any, where: str) -> Any:
    if isinstance(value, str) and value in kind.__members__:
        return kind[value]
    choices = ", ".join(kind.__members__)
    raise CatalogFileError([f"{where}: {value!r} is not one of {choices}"])


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise CatalogFileError([f"{where}: `{key}` is text"])
    return value


def _field_entry(name: str, value: Any) -> FieldEntry | None:
    """``name = "description"``, or ``name = { description = "…", authority = "dept" }`` for a
    field whose authoritative department is not the resource's owner."""
    if isinstance(value, str):
        return FieldEntry(name, value)
    if (
        isinstance(value, dict)
        and set(value) <= {"description", "authority"}
        and all(isinstance(v, str) for v in value.values())
    ):
        return FieldEntry(name, value.get("description", ""), value.get("authority"))
    return None


def _definition(table: Any, where: str) -> Definition:
    if not isinstance(table, dict):
        raise CatalogFileError([f"{where}: a [[resource]] is a table"])
    problems = []
    for key in table:
        if key in DECLARED_ELSEWHERE:
            problems.append(
                f"{where}: `{key}` is not written in catalogue files: every field's tier and "
                "mask are declared once, in catalog/fields.py"
            )
        elif key not in KEYS | {"fields"}:
            problems.append(f"{where}: unknown key `{key}` (known: {', '.join(sorted(KEYS))})")
    fields = table.get("fields", {})
    entries: list[FieldEntry] = []
    if not isinstance(fields, dict):
        fields = {}
        problems.append(f"{where}: [resource.fields] maps each field's name to its description")
    for name, value in fields.items():
        entry = _field_entry(name, value)
        if entry is None:
            problems.append(
                f"{where}: field `{name}` is a description, or a table with `description` "
                "and `authority` (the authoritative department's code)"
            )
        else:
            entries.append(entry)
    if problems:
        raise CatalogFileError(problems)
    return Definition(
        code=_text(table, "code", where),
        name=_text(table, "name", where),
        summary=_text(table, "summary", where),
        department=_text(table, "department", where),
        graphql_type=_text(table, "type", where),
        fields=tuple(entries),
        sharing=_enum_member(Sharing, table.get("sharing"), f"{where}: sharing"),
        sharing_condition=_text(table, "condition", where),
        update_frequency=_enum_member(
            UpdateFrequency, table.get("update_frequency"), f"{where}: update_frequency"
        ),
    )


def read_file(name: str, text: str) -> list[FileResource]:
    """The resources of one file's ``text``; ``name`` says where in error messages."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogFileError([f"{name}: not valid TOML: {error}"]) from None
    unknown = set(document) - {"resource", "feed"}
    if unknown:
        raise CatalogFileError(
            [f"{name}: only [[resource]] and [[feed]] tables belong here, not {unknown}"]
        )
    tables = document.get("resource", [])
    if not isinstance(tables, list):
        raise CatalogFileError([f"{name}: write each resource as [[resource]]"])
    found: list[FileResource] = []
    problems: list[str] = []
    for number, table in enumerate(tables, start=1):
        where = f"{name}, resource {number}" + (
            f" ({table['code']})" if isinstance(table, dict) and "code" in table else ""
        )
        try:
            found.append(FileResource(_definition(table, where), name))
        except CatalogFileError as error:
            problems.extend(error.problems)
    if problems:
        raise CatalogFileError(problems)
    return found


def toml_files(directory: Traversable) -> list[Traversable]:
    """The ``*.toml`` files of a catalogue directory, in name order (resources and feeds
    alike are read from them)."""
    return sorted(
        (p for p in directory.iterdir() if p.name.endswith(".toml") and p.is_file()),
        key=lambda p: p.name,
    )


def read_directory(directory: Traversable) -> list[FileResource]:
    """Every resource of every ``*.toml`` file in ``directory``, files in name order; all the
    problems of all the files at once, and a code defined twice is one of them."""
    found: list[FileResource] = []
    problems: list[str] = []
    for path in toml_files(directory):
        try:
            found.extend(read_file(path.name, path.read_text(encoding="utf-8")))
        except CatalogFileError as error:
            problems.extend(error.problems)
    first_seen: dict[str, str] = {}
    for resource in found:
        code = resource.definition.code
        if code in first_seen:
            problems.append(f"{code} is in {first_seen[code]} and again in {resource.source}")
        first_seen.setdefault(code, resource.source)
    if problems:
        raise CatalogFileError(problems)
    return found
