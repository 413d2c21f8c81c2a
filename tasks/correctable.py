"""The fields a correction can change: per record, GraphQL field → column and value check.

A worker sends a field's value as found on site as text (``"RENTER"``, ``"6"``); it is checked
here before anything is stored, and refused with a reason naming the field when it can not be
the field's value. Only plain values are correctable: links (a person's house), computed fields
(an age) and keys are not. Whether a caller may write a field is the plan's decision, not this
table's: this says only what a value must look like.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from store.errors import BadUserInput
from store.models import EntityStatus, EntityType, Gender, HouseUse, Registration, ResidenceKind


@dataclass(frozen=True, slots=True)
class Correctable:
    """One correctable field: its column and how a value is checked and stored."""

    column: str
    #: Text as the API takes it → the column's value.
    parse: Callable[[str], object]
    #: The column's value → text, as corrections and ``row_history`` keep values.
    show: Callable[[object], str] = str


def _text(longest: int) -> Callable[[str], object]:
    def parse(value: str) -> object:
        value = value.strip()
        if not value or len(value) > longest or not value.isprintable():
            raise ValueError(f"1 to {longest} printable characters")
        return value

    return parse


def _whole(low: int, high: int) -> Callable[[str], object]:
    def parse(value: str) -> object:
        if not value.strip().isascii() or not value.strip().lstrip("-").isdigit():
            raise ValueError(f"a whole number from {low} to {high}")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return number

    return parse


def _decimal(low: float, high: float) -> Callable[[str], object]:
    def parse(value: str) -> object:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"a number from {low} to {high}") from None
        if not low <= number <= high:  # NaN fails too
            raise ValueError(f"a number from {low} to {high}")
        return round(number, 2)

    return parse


def _choice(kind: type[enum.StrEnum]) -> Callable[[str], object]:
    """The GraphQL enum name (``RENTER``); the column keeps the member's value."""

    def parse(value: str) -> object:
        try:
            return kind[value].value
        except KeyError:
            names = ", ".join(member.name for member in kind)
            raise ValueError(f"one of {names}") from None

    return parse


def _choice_name(kind: type[enum.StrEnum]) -> Callable[[object], str]:
    return lambda value: kind(str(value)).name


def _phone(value: str) -> object:
    value = value.strip()
    if not (len(value) == 11 and value.isascii() and value.isdigit() and value[0] == "1"):
        raise ValueError("a mobile number of 11 digits starting with 1")
    return value


CORRECTABLE: Mapping[str, Mapping[str, Correctable]] = MappingProxyType(
    {
        "people": MappingProxyType(
            {
                "name": Correctable("name", _text(32)),
                "phone": Correctable("phone", _phone),
                "gender": Correctable("gender", _choice(Gender), _choice_name(Gender)),
                "registration": Correctable(
                    "registration", _choice(Registration), _choice_name(Registration)
                ),
                "residenceKind": Correctable(
                    "residence_kind", _choice(ResidenceKind), _choice_name(ResidenceKind)
                ),
            }
        ),
        "houses": MappingProxyType(
            {
                "use": Correctable("use", _choice(HouseUse), _choice_name(HouseUse)),
                "floors": Correctable("floors", _whole(1, 200)),
                "builtYear": Correctable("built_year", _whole(1900, 2100)),
            }
        ),
        "rooms": MappingProxyType(
            {
                "floor": Correctable("floor", _whole(-5, 200)),
                "areaM2": Correctable("area_m2", _decimal(1, 10_000)),
            }
        ),
        "entities": MappingProxyType(
            {
                "name": Correctable("name", _text(128)),
                "type": Correctable("type", _choice(EntityType), _choice_name(EntityType)),
                "industry": Correctable("industry", _text(32)),
                "status": Correctable("status", _choice(EntityStatus), _choice_name(EntityStatus)),
                "registeredAddress": Correctable("registered_address", _text(160)),
            }
        ),
    }
)


def checked_value(target: str, field: str, value: str | None) -> tuple[Correctable, object]:
    """The field's declaration and ``value`` as its column takes it; BAD_USER_INPUT naming
    the field when it is not correctable or the value can not be its value."""
    spec = CORRECTABLE.get(target, {}).get(field)
    if spec is None:
        raise BadUserInput(f"`{field}` can not be corrected on this record", field=field)
    if value is None:
        raise BadUserInput(f"`{field}` needs a value", field=field)
    try:
        return spec, spec.parse(value)
    except ValueError as error:
        raise BadUserInput(f"`{field}`: {error}", field=field) from None
