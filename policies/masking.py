"""House-style masks: what a MASK decision shows instead of a value.

Each function keeps exactly the parts its docstring shows (``docs/permissions.md``, "Masks")
and replaces every other character with ``*``, one for one, so a masked value has the shape of the
original and nothing else. A value too short to keep its documented parts and still hide
something is hidden whole: a mask never hands back more than it promises. All masks are
idempotent (masking a masked value changes nothing), so a value masked twice on its way through
the resolvers is still right.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from policies.fields import CARE_TAG_TIERS, Mask, Tier

STAR = "*"

#: Compound surnames (复姓) that a masked name keeps whole: 欧阳娜娜 → 欧阳**.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 "
    "独孤 南宫 西门 百里 呼延 东郭 太史 申屠 闻人 澹台 公冶 宗政 濮阳 淳于 单于 万俟".split()
)

#: A room code is its building's code followed by the room number; a room number is 4 digits
#: (floor and room: ``1203``). The mask keeps the building and hides these last characters.
ROOM_LENGTH = 4


def _keep(value: str, head: int, tail: int) -> str:
    """Keep ``head`` leading and ``tail`` trailing characters when something is left to hide."""
    hidden = len(value) - head - tail
    if hidden <= 0:
        return STAR * len(value)
    return value[:head] + STAR * hidden + value[len(value) - tail :]


def id_number(value: str) -> str:
    """440306199001011234 → 440306********1234 (region kept, birth date and serial hidden)."""
    return _keep(value, 6, 4)


def phone(value: str) -> str:
    """13812345678 → 138****5678."""
    return _keep(value, 3, 4)


def surname_length(value: str) -> int:
    """1, or 2 for a compound surname followed by a given name."""
    return 2 if len(value) > 2 and value[:2] in COMPOUND_SURNAMES else 1


def name(value: str) -> str:
    """张三 → 张*, 欧阳娜娜 → 欧阳**: the surname is kept, one ``*`` per hidden character."""
    return _keep(value, surname_length(value), 0)


def room(value: str) -> str:
    """44030600100100100011203 → 4403060010010010001****, 1203 → ****."""
    return _keep(value, max(len(value) - ROOM_LENGTH, 0), 0)


def care_tags(tags: Iterable[str]) -> list[str]:
    """Only the tags of the internal tier (the age tags); unknown tags are dropped, not shown."""
    return [tag for tag in tags if CARE_TAG_TIERS.get(tag, Tier.CORE) <= Tier.INTERNAL]


def mask(rule: Mask, value: Any) -> Any:
    """The masked form of ``value`` under ``rule`` (None: no masked form, or no value)."""
    if value is None or rule is Mask.WITHHOLD:
        return None
    if rule is Mask.NONE:
        return value
    if rule is Mask.CARE_TAGS:
        return care_tags(value)
    text = str(value)
    if rule is Mask.ID_NUMBER:
        return id_number(text)
    if rule is Mask.PHONE:
        return phone(text)
    if rule is Mask.NAME:
        return name(text)
    if rule is Mask.ROOM:
        return room(text)
    raise ValueError(f"no mask for {rule!r}")  # a new Mask member without a function here
