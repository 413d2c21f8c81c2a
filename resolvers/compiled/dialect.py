"""What differs between PostgreSQL and SQLite when the database builds the answer as JSON.

PostgreSQL: the JSON is written as text by concatenation (``'{"code":' || to_json(code)::text
|| …``, arrays by ``string_agg``), which PostgreSQL 15 runs in well under half the time of
``json_build_object`` / ``json_agg`` (those look each argument's type up again on every row); the
values go through ``to_json``, the same conversion ``json_build_object`` uses, so they are written
identically, in the document's key order, without its spaces; ``encode(…, 'base64')``. SQLite:
JSON1's ``json_object`` / ``json_group_array``, ``json()`` around every value that comes out of a
subquery (a subquery loses the JSON subtype that keeps text from being quoted again), and the
base64 function the engine registers on each connection (``store.engine.SQLITE_BASE64``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Null,
    String,
    Text,
    case,
    cast,
    func,
    literal,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from store.engine import SQLITE_BASE64

Expr = ColumnElement[Any]


class Dialect:
    """The JSON-building SQL of one back end (see :func:`for_backend`)."""

    name = ""
    #: How many connections and links deep one statement may nest (None: no limit).
    max_nesting: int | None = None
    #: Whether a child (a connection, a link) is a LATERAL subquery joined to its parent's
    #: rows, whose answer and audit facts come from one scan; without LATERAL (SQLite) they
    #: are two correlated subqueries, the child read twice.
    lateral = False

    def obj(self, pairs: list[tuple[str, Expr]]) -> Expr:
        raise NotImplementedError

    def agg(self, value: Expr, order_by: Expr, where: Expr) -> Expr:
        """A JSON array of ``value`` over the rows where ``where`` holds, in ``order_by``
        order; NULL over no rows."""
        raise NotImplementedError

    def embed(self, value: Expr) -> Expr:
        """A JSON value produced by a subquery, as a JSON value of the enclosing object."""
        return value

    def empty_array(self) -> Expr:
        raise NotImplementedError

    def boolean(self, condition: Expr) -> Expr:
        raise NotImplementedError

    def base64(self, text: Expr) -> Expr:
        raise NotImplementedError

    def text_agg(self, value: Expr, order_by: Expr, where: Expr) -> Expr:
        """The values joined by spaces (the audit facts of a page), NULL over no rows."""
        raise NotImplementedError

    def age(self, born: Expr, today: date) -> Expr:
        """Whole years from ``born`` to ``today`` (as ``resolvers.filters.age_on`` counts)."""
        raise NotImplementedError

    def result(self, value: Expr) -> Expr:
        """The statement's JSON column as text: the driver hands it over without parsing."""
        return value


class JsonText(Text):
    """The SQL type of an expression whose value is already JSON text (an object, an array,
    ``true``): embedded as it is, never converted again."""

    cache_ok = True


JSON_TEXT = JsonText()


def _json_piece(value: Expr) -> str | Expr:
    """One value of an object as JSON text: a constant written here, JSON text as it is, any
    other value through ``to_json`` (integers by their text, the same digits); ``null`` for
    SQL NULL."""
    if isinstance(value, Null):
        return "null"
    if isinstance(value, BindParameter) and isinstance(value.value, str | int | bool):
        return orjson.dumps(value.value).decode()
    if isinstance(value.type, JsonText):
        return func.coalesce(value, literal("null"))
    if isinstance(value.type, Integer):
        return func.coalesce(cast(value, Text), literal("null"))
    return func.coalesce(cast(func.to_json(value), Text), literal("null"))


def _concat(pieces: list[str | Expr]) -> Expr:
    """The pieces joined with ``||``, neighbouring constants as one parameter."""
    merged: list[str | Expr] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    parts = [literal(p, Text) if isinstance(p, str) else p for p in merged]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.op("||")(part)
    return type_coerce(joined, JSON_TEXT)


class Postgres(Dialect):
    name = "postgresql"
    lateral = True

    def obj(self, pairs: list[tuple[str, Expr]]) -> Expr:
        pieces: list[str | Expr] = ["{"]
        for index, (key, value) in enumerate(pairs):
            pieces.append(("," if index else "") + orjson.dumps(key).decode() + ":")
            pieces.append(_json_piece(value))
        pieces.append("}")
        return _concat(pieces)

    def agg(self, value: Expr, order_by: Expr, where: Expr) -> Expr:
        items = func.string_agg(value, aggregate_order_by(literal(",", Text), order_by))
        return _concat(["[", items.filter(where), "]"])

    def empty_array(self) -> Expr:
        return type_coerce(literal("[]", Text), JSON_TEXT)

    def boolean(self, condition: Expr) -> Expr:
        shown = case((condition, literal("true", Text)), (~condition, literal("false", Text)))
        return type_coerce(shown, JSON_TEXT)

    def result(self, value: Expr) -> Expr:
        return value

    def base64(self, text: Expr) -> Expr:
        encoded = func.encode(func.convert_to(text, literal("UTF8", String)), literal("base64"))
        return func.replace(encoded, literal("\n"), literal(""))

    def text_agg(self, value: Expr, order_by: Expr, where: Expr) -> Expr:
        return func.string_agg(value, aggregate_order_by(literal(" "), order_by)).filter(where)

    def age(self, born: Expr, today: date) -> Expr:
        years = cast(func.extract("year", born), Integer)
        later = func.to_char(born, literal("MM-DD")) > literal(today.strftime("%m-%d"))
        return literal(today.year) - years - case((later, 1), else_=0)


class SQLite(Dialect):
    name = "sqlite"
    #: SQLite's parser has a fixed stack (100 entries): three levels of connections and links
    #: with many fields overflow it ("parser stack overflow"); deeper documents go field by
    #: field on SQLite (the embedded back end; PostgreSQL has no such limit).
    max_nesting = 2

    def obj(self, pairs: list[tuple[str, Expr]]) -> Expr:
        args: list[Any] = []
        for key, value in pairs:
            args.extend((literal(key, String), value))
        return func.json_object(*args)

    def agg(self, value: Expr, order_by: Expr, where: Expr) -> Expr:
        # SQLite 3.40 has no ORDER BY inside an aggregate: the rows come ordered from below.
        return func.json_group_array(value).filter(where)

    def embed(self, value: Expr) -> Expr:
        return func.json(value)

    def empty_array(self) -> Expr:
        return func.json(literal("[]"))

    def boolean(self, condition: Expr) -> Expr:
        return case((condition, func.json(literal("true"))), else_=func.json(literal("false")))

    def base64(self, text: Expr) -> Expr:
        return getattr(func, SQLITE_BASE64)(text)

    def text_agg(self, value: Expr, order_by: Expr, where: Expr) -> Expr:
        return func.group_concat(value, literal(" ")).filter(where)

    def age(self, born: Expr, today: date) -> Expr:
        years = cast(func.substr(born, 1, 4), Integer)
        later = func.substr(born, 6, 5) > literal(today.strftime("%m-%d"))
        return literal(today.year) - years - case((later, 1), else_=0)


def for_backend(name: str) -> Dialect:
    if name == "postgresql":
        return Postgres()
    if name == "sqlite":
        return SQLite()
    raise ValueError(f"no compiled reads for {name}")
