"""The rule language: what is accepted, what it covers, and how it is packed for Casbin."""

from __future__ import annotations

import pytest

from policies.fields import FIELDS
from policies.rules import (
    Act,
    PolicyError,
    Rule,
    act_match,
    object_match,
    parse_fields,
    purpose_match,
)


@pytest.mark.parametrize(
    ("resource", "fields", "area", "message"),
    [
        ("persons", "*", "*", "resource"),
        ("people", "tier:5", "*", "tier"),
        ("people", "tier:two", "*", "tier"),
        ("people", "idNumber,phone", "*", "field names"),
        ("people", "shoeSize", "*", "no such field"),
        ("people", "House.code", "*", "not part of resource"),
        ("people", "*", "4403", "area"),
        ("people", "*", "mine", "area"),
    ],
)
def test_a_malformed_rule_is_refused_with_what_is_allowed(
    resource: str, fields: str, area: str, message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        Rule.make("grid_worker", "*", resource, fields, area)


@pytest.mark.parametrize(
    ("purposes", "message"),
    [((), "needs its purposes"), (("Case Handling",), "purpose")],
)
def test_read_rules_need_well_formed_purposes(purposes: tuple[str, ...], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        Rule.make("app", "*", "people", "idNumber", "*", Act.READ, purposes)


def test_purposes_are_normalised_and_only_kept_on_read_rules() -> None:
    assert Rule.make("a", "*", "people", "*", "*", "read", ["b_x", "a_y", "b_x"]).purposes == (
        "a_y",
        "b_x",
    )
    assert Rule.make("a", "*", "people", "*", "*", "read", ["x", "*"]).purposes == ("*",)
    assert Rule.make("a", "*", "people", "*", "*", "mask", ["x"]).purposes == ()


@pytest.mark.parametrize(
    "rule",
    [
        Rule.make("grid_worker", "*", "people", "tier:2", "own"),
        Rule.make("auth0|5f3a", "housing", "people", "idNumber|phone", "440306001", "mask"),
        Rule.make("night", "*", "*", "*", "440306001003", "deny"),
        Rule.make("civil", "civil_affairs", "people", "tier:3", "*", "read", ["x", "y"]),
    ],
    ids=str,
)
def test_a_rule_survives_its_casbin_lines(rule: Rule) -> None:
    line = rule.policy_line()
    assert len(line) == 6  # the adapter's v0..v5
    purposes = rule.purpose_line()
    assert Rule.from_lines(line, purposes[4] if purposes else None) == rule


@pytest.mark.parametrize(
    ("resource", "fields", "covered", "not_covered"),
    [
        ("people", "tier:2", ["Person.name", "Person.id"], ["Person.idNumber", "House.use"]),
        ("people", "idNumber|Person.phone", ["Person.idNumber", "Person.phone"], ["Person.name"]),
        ("grids", "people", ["Grid.people", "GridStats.people"], ["Grid.name"]),
        ("grids", "GridStats.people", ["GridStats.people"], ["Grid.people"]),
        ("*", "tier:1", ["Entity.name", "Grid.geometry"], ["Person.name"]),
        ("*", "*", ["Person.careTags", "Matter.code"], []),
    ],
)
def test_what_a_field_selector_covers(
    resource: str, fields: str, covered: list[str], not_covered: list[str]
) -> None:
    for field in covered:
        assert object_match(field, f"{resource}/{fields}"), field
    for field in not_covered:
        assert not object_match(field, f"{resource}/{fields}"), field


def test_the_reach_of_a_selector() -> None:
    assert parse_fields("people", "tier:4").reach("Person", "careTags") == 4
    assert parse_fields("people", "tier:3").reach("Person", "careTags") == 3
    assert parse_fields("people", "careTags").reach("Person", "careTags") == 3
    assert parse_fields("people", "*").reach("Person", "careTags") == 4


def test_acts_and_purposes_as_the_matchers_see_them() -> None:
    assert act_match("read", "read")
    assert act_match("mask", "read")
    assert not act_match("read", "mask")
    assert act_match("read", "*")
    assert act_match("mask", "*")
    assert purpose_match("case_handling", "case_handling|elderly_care")
    assert purpose_match("anything", "*")
    assert not purpose_match("", "*")  # a purpose must be declared


def test_every_declared_field_is_covered_by_star() -> None:
    for type_name, fields in FIELDS.items():
        for field in fields:
            assert object_match(f"{type_name}.{field}", "*/*")
