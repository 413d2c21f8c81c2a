"""House-style masks: the documented examples (docs/permissions.md), and properties over any
input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import masking
from policies.fields import CARE_TAG_TIERS, Mask, Tier
from policies.masking import STAR

digits = st.text(alphabet="0123456789X", min_size=0, max_size=24)
chinese = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), max_size=6)
names = chinese | st.builds(
    lambda surname, rest: surname + rest,
    st.sampled_from(sorted(masking.COMPOUND_SURNAMES)),
    chinese,
)

# (mask, kept leading characters, kept trailing characters) for well-formed values
SHAPES: list[tuple[Callable[[str], str], Callable[[str], int], int]] = [
    (masking.id_number, lambda v: 6, 4),
    (masking.phone, lambda v: 3, 4),
    (masking.name, masking.surname_length, 0),
    (masking.room, lambda v: max(len(v) - masking.ROOM_LENGTH, 0), 0),
]


@pytest.mark.parametrize(
    ("rule", "value", "masked"),
    [
        (Mask.ID_NUMBER, "440306199001011234", "440306********1234"),
        (Mask.ID_NUMBER, "44030619900101123X", "440306********123X"),
        (Mask.PHONE, "13812345678", "138****5678"),
        (Mask.NAME, "张三", "张*"),
        (Mask.NAME, "王小明", "王**"),
        (Mask.NAME, "欧阳娜娜", "欧阳**"),
        (Mask.NAME, "司马光", "司马*"),
        (Mask.NAME, "欧阳", "欧*"),  # a compound surname alone is a surname and a given name
        (Mask.NAME, "张", "*"),  # nothing to keep that would not give it all away
        (Mask.ROOM, "44030600100100100011203", "4403060010010010001****"),
        (Mask.ROOM, "1203", "****"),
        (Mask.CARE_TAGS, ["elderly_80", "disabled", "key_person"], ["elderly_80"]),
        (Mask.NONE, "宝安区", "宝安区"),
        (Mask.WITHHOLD, "1990-01-01", None),
        (Mask.PHONE, None, None),
    ],
)
def test_house_style(rule: Mask, value: object, masked: object) -> None:
    assert masking.mask(rule, value) == masked


@pytest.mark.parametrize(("function", "head", "tail"), SHAPES)
@given(value=digits | names)
def test_a_mask_keeps_the_documented_parts_and_hides_the_rest(
    function: Callable[[str], str], head: Callable[[str], int], tail: int, value: str
) -> None:
    masked = function(value)
    assert len(masked) == len(value)
    keep_head, keep_tail = head(value), tail
    hidden = range(keep_head, len(value) - keep_tail)
    if len(hidden) > 0:
        assert masked[:keep_head] == value[:keep_head]
        assert masked[len(value) - keep_tail :] == value[len(value) - keep_tail :]
        assert all(masked[i] == STAR for i in hidden)  # no hidden character left in place
    else:
        assert masked == STAR * len(value)  # too short to keep anything and hide something
    if masked == value:  # only when all it hides was hidden already (empty, or masked)
        assert all(value[i] == STAR for i in (hidden or range(len(value))))


@pytest.mark.parametrize(("function", "head", "tail"), SHAPES)
@given(value=digits | names)
def test_masking_twice_is_masking_once(
    function: Callable[[str], str], head: Callable[[str], int], tail: int, value: str
) -> None:
    assert function(function(value)) == function(value)


@given(tags=st.lists(st.sampled_from(sorted(CARE_TAG_TIERS))))
def test_masked_care_tags_are_the_internal_ones(tags: list[str]) -> None:
    masked = masking.care_tags(tags)
    assert masked == [tag for tag in tags if CARE_TAG_TIERS[tag] <= Tier.INTERNAL]
    assert masking.care_tags(masked) == masked


def test_every_mask_rule_has_a_function() -> None:
    for rule in Mask:
        masking.mask(rule, ["elderly_70"] if rule is Mask.CARE_TAGS else "13812345678")
