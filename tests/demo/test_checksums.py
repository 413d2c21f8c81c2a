"""Check characters of ID numbers, organisation codes and credit codes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from feeds.checksums import (
    CREDIT_CHARSET,
    credit_code_check_char,
    id_number_check_digit,
    is_valid_credit_code,
    is_valid_id_number,
    organization_code_check_char,
)

#: Published examples: GB 11643's own, and the credit codes of Huawei, Tencent, Alibaba and one
#: more company, as printed on their business licences.
VALID_ID_NUMBERS = ("11010519491231002X", "440524188001010014")
VALID_CREDIT_CODES = (
    "914403001922038216",
    "9144030071526726XG",
    "91330100716105852F",
    "91110000802100433B",
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
credit_chars = st.sampled_from(CREDIT_CHARSET)


def id_numbers() -> st.SearchStrategy[str]:
    def build(region: str, birth: date, sequence: int) -> str:
        first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
        return first17 + id_number_check_digit(first17)

    return st.builds(
        build,
        st.text(alphabet="0123456789", min_size=6, max_size=6),
        st.dates(date(1900, 1, 1), date(2099, 12, 31)),
        st.integers(0, 999),
    )


def credit_codes() -> st.SearchStrategy[str]:
    def build(head: str, region: str, body: str) -> str:
        org = body + organization_code_check_char(body)
        first17 = head + region + org
        return first17 + credit_code_check_char(first17)

    return st.builds(
        build,
        st.text(alphabet=CREDIT_CHARSET, min_size=2, max_size=2),
        st.text(alphabet="0123456789", min_size=6, max_size=6),
        st.text(alphabet=CREDIT_CHARSET, min_size=8, max_size=8),
    )


@pytest.mark.parametrize("number", VALID_ID_NUMBERS)
def test_published_id_numbers_are_valid(number: str) -> None:
    assert is_valid_id_number(number)
    assert id_number_check_digit(number[:17]) == number[17]


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_published_credit_codes_are_valid(code: str) -> None:
    assert is_valid_credit_code(code)
    assert organization_code_check_char(code[8:16]) == code[16]


def test_gb_11714_example() -> None:
    assert organization_code_check_char("D2143569") == "X"


def test_id_number_with_impossible_birth_date_is_invalid() -> None:
    first17 = "11010519490230002"  # 30 February
    assert not is_valid_id_number(first17 + id_number_check_digit(first17))


@pytest.mark.parametrize(
    "bad", ["", "1101051949123100", "11010519491231002XX", "1101051949123100AX"]
)
def test_malformed_id_numbers_are_invalid(bad: str) -> None:
    assert not is_valid_id_number(bad)


@pytest.mark.parametrize(
    "bad", ["", "91440300192203821", "914403001922038216X", "9144030019220382IO"]
)
def test_malformed_credit_codes_are_invalid(bad: str) -> None:
    assert not is_valid_credit_code(bad)


@pytest.mark.parametrize(
    ("function", "argument"),
    [
        (id_number_check_digit, "1234"),
        (id_number_check_digit, "1101051949123100X"),
        (credit_code_check_char, "91440300192203821O"),
        (organization_code_check_char, "abcdefgh"),
    ],
)
def test_check_functions_refuse_malformed_input(
    function: Callable[[str], str], argument: str
) -> None:
    with pytest.raises(ValueError, match="expected"):
        function(argument)


@given(id_numbers())
def test_generated_id_numbers_are_valid(number: str) -> None:
    assert is_valid_id_number(number)


@given(id_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_changing_one_character_of_an_id_number_breaks_it(
    number: str, position: int, replacement: str
) -> None:
    assume(number[position] != replacement)
    changed = number[:position] + replacement + number[position + 1 :]
    assert not is_valid_id_number(changed)


@given(credit_codes())
def test_generated_credit_codes_are_valid(code: str) -> None:
    assert is_valid_credit_code(code)


@given(credit_codes(), st.integers(0, 17), credit_chars)
def test_changing_one_character_of_a_credit_code_breaks_it(
    code: str, position: int, replacement: str
) -> None:
    assume(code[position] != replacement)
    changed = code[:position] + replacement + code[position + 1 :]
    assert not is_valid_credit_code(changed)
