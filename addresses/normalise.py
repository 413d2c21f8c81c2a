"""One spelling for every way a department writes the same address.

Every matcher step compares normalised text, so the rules live here once:

- full-width and half-width forms are one (Unicode NFKC): ``２４６号`` is ``246号``, ``Ａ座`` is
  ``A座``; Latin letters are upper-cased;
- spaces and punctuation go (``新安六路 246号，6栋-301`` is ``新安六路246号6栋301``);
- Chinese numerals before a unit word become digits (``九巷`` → ``9巷``, ``二十三号`` → ``23号``,
  ``三楼`` → ``3楼``); numerals inside names (``宝民一路``, ``蚝一社区``) are kept;
- the usual synonyms take one form: ``幢``/``座``/``号楼`` → ``栋``, ``房`` → ``室``,
  ``层`` → ``楼``.

:func:`normalise` is idempotent (normalising twice changes nothing) and blind to width.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import cn2an

#: Chinese numeral characters, including the financial and informal forms that turn up.
NUMERAL_CHARS = "零〇一二两三四五六七八九十百千壹贰叁肆伍陆柒捌玖拾"

#: Words a house number, lane, building, unit, floor or room number stands before.
_UNIT_WORDS = "号|巷|弄|栋|幢|座|楼|层|室|房|单元"

_NUMERAL_BEFORE_UNIT = re.compile(f"([{NUMERAL_CHARS}]+)(?=(?:{_UNIT_WORDS}))")
#: A numeral after 第 (``第三栋``): the 第 goes, the numeral becomes digits.
_ORDINAL = re.compile(r"第(\d+)")

#: Everything that is neither a letter, a digit nor a CJK ideograph.
_NOISE = re.compile(r"[^0-9A-Z\u4e00-\u9fff]+")

#: Synonyms, longest first so that ``号楼`` is read before ``号``.
_SYNONYMS = (
    (re.compile(r"(?<=[0-9A-Z])号楼"), "栋"),
    (re.compile(r"(?<=[0-9A-Z])[幢座]"), "栋"),
    (re.compile(r"(?<=[0-9])层"), "楼"),
    (re.compile(r"(?<=[0-9])房"), "室"),
)


@lru_cache(maxsize=4096)
def numeral_to_digits(numeral: str) -> str:
    """``二十三`` → ``23``, ``三零一`` → ``301``, ``两`` → ``2``; what cannot be read stays."""
    try:
        value = cn2an.cn2an(numeral, "smart")
    except (ValueError, KeyError, IndexError):
        return numeral
    return str(int(value))


def _digits(match: re.Match[str]) -> str:
    return numeral_to_digits(match.group(1))


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """The one spelling of ``text`` every matcher step compares (see the module's rules)."""
    text = unicodedata.normalize("NFKC", text).upper()
    text = _NOISE.sub("", text)
    text = _NUMERAL_BEFORE_UNIT.sub(_digits, text)
    text = _ORDINAL.sub(r"\1", text)
    for pattern, replacement in _SYNONYMS:
        text = pattern.sub(replacement, text)
    return text
