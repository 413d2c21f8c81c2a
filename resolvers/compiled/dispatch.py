"""Dispatch and splice: which root fields of a request the compiler answers, the statements that
answer them, and the document of the rest, which graphql-core runs as before.

A root field is compiled only when everything under it is something the compiler builds for
this caller (see :mod:`resolvers.compiled.build`); otherwise it stays in the rest, so one
document may mix both. The compiled answers are spliced into the response as the database wrote
them (``orjson.Fragment``), never decoded, in the document's order of root fields.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_variable_values
from sqlalchemy import Select
from sqlalchemy.engine import Dialect

from resolvers.answer import Selection
from resolvers.compiled.build import Compiler, PageSettings
from resolvers.compiled.dialect import for_backend
from resolvers.compiled.selection import Unsupported, Walk
from resolvers.compiled.types import TYPE_OF_TAG
from resolvers.context import RequestContext
from store.errors import GridhubError


@dataclass(frozen=True, slots=True)
class Split:
    """A request divided: the root response keys in order, the statements of the compiled
    ones, and the document of the others (None when every root field is compiled)."""

    keys: tuple[str, ...]
    compiled: dict[str, Select[Any]]
    rest: DocumentNode | None
    #: Per compiled key, what its facts tokens' indexes name (the compiler's registries).
    legends: dict[str, Legend]
    #: Per compiled key, its statement in the driver's SQL with its parameters' values.
    driven: dict[str, Driven]


@dataclass(frozen=True, slots=True)
class Driven:
    """A statement compiled once to the driver's SQL text and positional parameters.

    A split is kept with the plan (see :func:`split`), so its statements run again and again;
    SQLAlchemy would work out each one's cache key (a walk of the whole statement) and gather
    its hundred-odd parameters on every execution. Compiled here once, each run hands the
    driver the text and the values as they are.
    """

    sql: str
    parameters: tuple[Any, ...]

    @classmethod
    def of(cls, statement: Select[Any], dialect: Dialect) -> Driven:
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        values = compiled.construct_params()
        processors = compiled._bind_processors
        parameters = []
        for name in compiled.positiontup or ():
            value = values[name]
            processor = processors.get(name)
            if processor is not None and not callable(processor):
                raise TypeError(f"no single processor for the parameter {name}")
            parameters.append(processor(value) if processor is not None else value)
        return cls(str(compiled), tuple(parameters))


@dataclass(frozen=True, slots=True)
class Legend:
    """The selections and masked fields a statement's facts tokens name by index."""

    selections: tuple[Selection, ...]
    masked_fields: tuple[tuple[str, str], ...]


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation graphql-core would run, or None where it would refuse (it will say why)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    found = [o for o in operations if o.name is not None and o.name.value == name]
    return found[0] if len(found) == 1 else None


#: Splits a plan keeps (per plan: a principal's plan lives until the policy changes).
PLAN_MEMO_SIZE = 64


def split(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: RequestContext,
) -> Split | None:
    """The compiled part of a request, or None when nothing in it is compiled.

    Building the statements costs milliseconds of Python for a large document; the same
    document, variables and plan on the same day give the same statements, so a plan that
    keeps a memo (``policies.plan.AccessPlan``) keeps the last :data:`PLAN_MEMO_SIZE` splits.
    """
    memo: dict[Any, Any] | None = getattr(context.plan, "memo", None)
    if memo is None:
        return _split(schema, document, operation_name, variables, context)
    try:
        frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
    except TypeError:
        return _split(schema, document, operation_name, variables, context)
    key = ("compiled", id(document), operation_name, frozen, context.now.date())
    found = memo.get(key)
    if found is not None and found[0] is document:
        return found[1]
    result = _split(schema, document, operation_name, variables, context)
    kept = memo.setdefault("compiled-keys", [])
    kept.append(key)
    if len(kept) > PLAN_MEMO_SIZE:
        memo.pop(kept.pop(0), None)
    memo[key] = (document, result)
    return result


def _split(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    context: RequestContext,
) -> Split | None:
    operation = _operation(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY:
        return None
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    if not isinstance(coerced, VariableValues):
        return None  # graphql-core reports the variables' errors
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walk = Walk(schema, fragments, coerced)
    query = schema.query_type
    assert query is not None
    try:
        roots = walk.collect(query, [operation.selection_set])
    except (Unsupported, GraphQLError):
        return None
    try:
        dialect = for_backend(context.engine.dialect.name)
    except ValueError:
        return None
    settings = context.settings
    pages = PageSettings(settings.default_page_size, settings.max_page_size)
    compiled: dict[str, Select[Any]] = {}
    legends: dict[str, Legend] = {}
    for key, nodes in roots.items():
        compiler = Compiler(walk, context.plan, dialect, pages, context.now)
        try:
            compiled[key] = compiler.root(query, nodes)
        except (Unsupported, GridhubError, GraphQLError):
            continue  # the field-by-field path answers it (and reports any error it has)
        legends[key] = Legend(tuple(compiler.selections), tuple(compiler.masked_fields))
    if not compiled:
        return None
    rest_nodes: list[FieldNode] = [n for k, ns in roots.items() if k not in compiled for n in ns]
    rest = None
    if rest_nodes:
        narrowed = OperationDefinitionNode(
            operation=operation.operation,
            name=operation.name,
            variable_definitions=operation.variable_definitions,
            directives=operation.directives,
            selection_set=SelectionSetNode(selections=tuple(rest_nodes)),
        )
        rest = DocumentNode(definitions=(narrowed, *fragments.values()))
    driver = context.engine.dialect
    driven = {key: Driven.of(statement, driver) for key, statement in compiled.items()}
    return Split(tuple(roots), compiled, rest, legends, driven)


async def answer(split: Split, context: RequestContext) -> dict[str, orjson.Fragment | None]:
    """Run the compiled statements; their JSON as it came, and their facts on the context."""
    answers: dict[str, orjson.Fragment | None] = {}
    for key in split.compiled:
        driven = split.driven[key]
        rows = await context.driver_rows(driven.sql, driven.parameters)
        found = rows[0]._mapping if rows else {}
        data, facts = found.get("data"), found.get("facts")
        answers[key] = None if data is None else orjson.Fragment(data)
        record_facts(context, facts, split.legends[key])
        context.compiled_fields.append(key)
    return answers


#: In a facts text: a person's id (``P<id>.``), an object's type letter and the index of the
#: fields selected on it (``<T>[id].<n>``; ``_`` for an object of no row), a masked field's
#: index (``m<n>``). Read with these patterns rather than token by token: an answer of a
#: thousand rows is one pass of each in C, not a thousand turns of a Python loop.
_PEOPLE = re.compile(r"(?<!\S)P(\d+)\.")
_TAGS = re.compile(r"(?<!\S)([A-Z])")
_SELECTED = re.compile(r"(?<!\S)[A-Z_]\d*\.(\d+)")
_MASKED = re.compile(r"(?<!\S)m(\d+)")


def record_facts(context: RequestContext, facts: str | None, legend: Legend) -> None:
    """What a compiled answer tells its audit entry, noted as the field-by-field path notes it
    (:mod:`resolvers.answer`): the objects it holds with their fields, the people among them,
    and the fields whose values it shows masked."""
    if not facts:
        return
    answer = context.answer
    for index in set(_MASKED.findall(facts)):
        answer.masked.add(legend.masked_fields[int(index)])
    for index in set(_SELECTED.findall(facts)):
        answer.selections.add(legend.selections[int(index)])
    counts = Counter(_TAGS.findall(facts))
    context.row_counts.update({TYPE_OF_TAG[tag]: n for tag, n in counts.items()})
    context.person_ids.update(map(int, _PEOPLE.findall(facts)))


def splice(
    split: Split, answers: dict[str, orjson.Fragment | None], rest: dict[str, Any] | None
) -> dict[str, Any]:
    """The response's ``data``: compiled answers and the rest's values, in document order."""
    return {key: answers[key] if key in answers else (rest or {}).get(key) for key in split.keys}
