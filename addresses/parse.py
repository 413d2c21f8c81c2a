"""A normalised address split into its components.

The administrative prefix (province, city, district, street, community) is read off the front
and kept apart: departments write it in full, in part, not at all or wrongly, so the matcher
uses it only to break ties. The rest is scanned for its markers, in any order:

====================  =========================  ==========================
marker                component                  text before it
====================  =========================  ==========================
``246号``             door number                the road (``新安六路``)
``6栋``               building                   village or estate (``建安村9巷``)
``2单元``             unit
``3楼``               floor
``301室``, ``301``    room (trailing digits too)
====================  =========================  ==========================

Text after the door number with no building marker (``鑫泰科技大厦``) is the estate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from addresses.normalise import normalise

_PROVINCE = re.compile(r"^(?:广东省|广东)")
_CITY = re.compile(r"^(?:深圳市|深圳)")
#: Shenzhen's districts: a generic ``..区`` would swallow ``建安工业区``.
_DISTRICT = re.compile(
    r"^(?:宝安区|福田区|罗湖区|南山区|盐田区|龙岗区|龙华区|坪山区|光明区|大鹏新区)"
)
_STREET = re.compile(r"^([\u4e00-\u9fff]{2,4}?)街道")
_COMMUNITY = re.compile(r"^([\u4e00-\u9fff]{1,4}?)社区")

_MARKERS = re.compile(
    r"(?P<door>\d+)号(?!楼)"
    r"|(?P<building>[0-9A-Z]+)栋"
    r"|(?P<unit>\d+)单元"
    r"|(?P<floor>\d+)楼(?!\d*栋)"
    r"|(?P<room>\d+)室"
)
_TRAILING_ROOM = re.compile(r"(\d+)$")


@dataclass(frozen=True, slots=True)
class Components:
    """The parts of an address; ``None`` where the text does not say."""

    street: str | None = None
    community: str | None = None
    road: str | None = None
    number: str | None = None
    estate: str | None = None
    building: str | None = None
    unit: str | None = None
    floor: int | None = None
    room: str | None = None

    @property
    def place(self) -> str:
        """Estate and building as one key (``建安村9巷6栋``), or '' when neither is known."""
        return f"{self.estate or ''}{self.building or ''}{'栋' if self.building else ''}"


def room_number(digits: str) -> str:
    """``0301`` and ``301`` are one room: leading zeros go."""
    return digits.lstrip("0") or "0"


def strip_prefix(text: str) -> tuple[str, str | None, str | None]:
    """``text`` without its administrative prefix, and the street and community it named."""
    street = community = None
    for pattern in (_PROVINCE, _CITY, _DISTRICT):
        text = pattern.sub("", text, count=1)
    match = _STREET.match(text)
    if match:
        street, text = match.group(1), text[match.end() :]
    match = _COMMUNITY.match(text)
    if match:
        community, text = match.group(1), text[match.end() :]
    return text, street, community


def parse(text: str) -> Components:
    """The components of ``text`` (normalised first; any order of the parts)."""
    rest, street, community = strip_prefix(normalise(text))
    found: dict[str, str] = {}
    position = 0
    loose: list[str] = []
    for match in _MARKERS.finditer(rest):
        before = rest[position : match.start()]
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind in found:  # a second marker of a kind already read: keep the first
            loose.append(before)
        elif kind == "door":
            found["door"] = value
            if before:
                found["road"] = before
        elif kind == "building":
            found["building"] = value
            if before:
                found["estate"] = before
        else:
            found[kind] = value
            if before:
                loose.append(before)
        position = match.end()
    tail = rest[position:]
    if tail:
        trailing = _TRAILING_ROOM.search(tail)
        if trailing and "room" not in found and ("building" in found or "door" in found):
            found["room"] = trailing.group(1)
            tail = tail[: trailing.start()]
        if tail:
            loose.append(tail)
    if "estate" not in found and loose:
        found["estate"] = "".join(loose)
    return Components(
        street=street,
        community=community,
        road=found.get("road"),
        number=found.get("door"),
        estate=found.get("estate"),
        building=found.get("building"),
        unit=found.get("unit"),
        floor=int(found["floor"]) if "floor" in found else None,
        room=room_number(found["room"]) if "room" in found else None,
    )


def without_room(components: Components) -> Components:
    """The house a room's components name."""
    return replace(components, unit=None, floor=None, room=None)
