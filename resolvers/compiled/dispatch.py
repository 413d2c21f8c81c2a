"""Dispatch and splice: which root fields of a request the compiler answers, the statements that
answer them, and the document of the rest, which graphql-core runs as before.

A root field is compiled only when everything under it is something the compiler builds for
this caller (see :mod:`resolvers.compiled.build`); otherwise it stays in the rest, so one
document may mix both. The compiled answers are spliced into the response as the database wrote
them (``orjson.Fragment``), never decoded, in the document's order of root fields.
"""

from __future__ import annotations

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
    return Split(tuple(roots), compiled, rest, legends)


async def answer(split: Split, context: RequestContext) -> dict[str, orjson.Fragment | None]:
    """Run the compiled statements; their JSON as it came, and their facts on the context."""
    answers: dict[str, orjson.Fragment | None] = {}
    for key, statement in split.compiled.items():
        rows = await context.rows(statement)
        found = rows[0]._mapping if rows else {}
        data, facts = found.get("data"), found.get("facts")
        answers[key] = None if data is None else orjson.Fragment(data)
        record_facts(context, facts, split.legends[key])
        context.compiled_fields.append(key)
    return answers


def record_facts(context: RequestContext, facts: str | None, legend: Legend) -> None:
    """What a compiled answer tells its audit entry, noted as the field-by-field path notes it
    (:mod:`resolvers.answer`): the objects it holds with their fields, the people among them,
    and the fields whose values it shows masked."""
    if not facts:
        return
    answer = context.answer
    counts: Counter[str] = Counter()
    for token in facts.split():
        if token[0] == "m":
            answer.masked.add(legend.masked_fields[int(token[1:])])
            continue
        head, _, selected = token.partition(".")
        answer.selections.add(legend.selections[int(selected)])
        tag = head[0]
        if tag == "_":  # an object of no row (statistics)
            continue
        counts[TYPE_OF_TAG[tag]] += 1
        if tag == "P":
            context.person_ids.add(int(head[1:]))
    context.row_counts.update(counts)


def splice(
    split: Split, answers: dict[str, orjson.Fragment | None], rest: dict[str, Any] | None
) -> dict[str, Any]:
    """The response's ``data``: compiled answers and the rest's values, in document order."""
    return {key: answers[key] if key in answers else (rest or {}).get(key) for key in split.keys}
