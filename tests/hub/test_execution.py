"""The executor parses and validates each distinct query once, and keeps a bounded cache."""

from __future__ import annotations

from hub.execution import Executor
from schema import build_schema

QUERIES = [f'{{ grid(code: "4403060010010010{n:02d}") {{ name }} }}' for n in range(5)]


def test_a_repeated_query_is_prepared_once() -> None:
    executor = Executor(build_schema(), cache_size=8)
    first = executor.prepare(QUERIES[0])
    assert first.document is not None
    assert executor.prepare(QUERIES[0]) is first


def test_the_cache_keeps_the_most_recently_used() -> None:
    executor = Executor(build_schema(), cache_size=2)
    a, b = executor.prepare(QUERIES[0]), executor.prepare(QUERIES[1])
    executor.prepare(QUERIES[0])  # a is used again, so b is the oldest
    executor.prepare(QUERIES[2])  # evicts b
    assert executor.prepare(QUERIES[0]) is a
    assert executor.prepare(QUERIES[1]) is not b


def test_a_size_of_zero_turns_the_cache_off() -> None:
    executor = Executor(build_schema(), cache_size=0)
    assert executor.prepare(QUERIES[0]) is not executor.prepare(QUERIES[0])


def test_a_failed_preparation_is_cached_with_its_errors() -> None:
    executor = Executor(build_schema(), cache_size=8)
    broken = executor.prepare("{ grid(code: ")
    assert broken.document is None
    assert broken.errors[0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert executor.prepare("{ grid(code: ") is broken
