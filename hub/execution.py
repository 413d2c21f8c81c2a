"""Runs GraphQL documents: parse and validate once per distinct query, execute, shape errors.

The hub calls graphql-core directly on the Strawberry schema instead of going through a
framework view, so that the document cache, the error codes and (in later issues) the limits
and the audit entry sit in one place that every transport shares.

Every error leaves with a stable ``extensions.code``; an unexpected exception is logged here
with its traceback and reaches the client only as ``INTERNAL_SERVER_ERROR``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    ValuesOfCorrectTypeRule,
    execute,
    parse,
    validate,
)
from graphql.pyutils import is_awaitable

from hub.errors import GridhubError

log = logging.getLogger("gridhub.graphql")
T = TypeVar("T")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
BAD_REQUEST = "BAD_REQUEST"
INTERNAL = "INTERNAL_SERVER_ERROR"


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed, validated document, or the errors that stop it from running."""

    document: DocumentNode | None
    errors: tuple[dict[str, Any], ...] = ()
    #: Facts others derive from the document once (the audit recorder's), kept with it.
    memo: dict[str, Any] = field(default_factory=dict, compare=False)

    def memoized(self, key: str, work: Callable[[], T]) -> T:
        """``work()``, done once per cached document: what is derived from a parsed query
        alone (the audit's facts, its hash) is the same for every request that sends it."""
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = work()
        return found  # type: ignore[no-any-return]

    def operation(self, operation_name: str | None) -> OperationDefinitionNode | None:
        """The operation that runs: the named one, or the first."""
        if self.document is None:
            return None
        for definition in self.document.definitions:
            if isinstance(definition, OperationDefinitionNode) and (
                operation_name is None
                or (definition.name is not None and definition.name.value == operation_name)
            ):
                return definition
        return None

    def operation_type(self, operation_name: str | None) -> OperationType | None:
        operation = self.operation(operation_name)
        return None if operation is None else operation.operation


def _with_code(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted = error.formatted
    extensions = dict(formatted.get("extensions") or {})
    extensions.setdefault("code", code)
    formatted["extensions"] = extensions
    return dict(formatted)


class Executor:
    """One per app: holds the schema and an LRU cache of prepared documents."""

    def __init__(self, schema: strawberry.Schema, cache_size: int = 512) -> None:
        self.schema: GraphQLSchema = schema._schema
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._cache_size = cache_size

    def prepare(self, query: str) -> Prepared:
        prepared = self._cache.get(query)
        if prepared is not None:
            self._cache.move_to_end(query)
            return prepared
        prepared = self._prepare(query)
        if self._cache_size:
            self._cache[query] = prepared
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query)
        except GraphQLError as error:
            return Prepared(None, (_with_code(error, PARSE_FAILED),))
        errors = validate(self.schema, document)
        if not errors:
            return Prepared(document)
        # Wrong argument values (an unknown enum, a string for an Int) are the user's input
        # being wrong, not the document's shape: tell them apart by the rule that caught them.
        value_errors = {
            e.message for e in validate(self.schema, document, [ValuesOfCorrectTypeRule])
        }
        return Prepared(
            None,
            tuple(
                _with_code(e, BAD_USER_INPUT if e.message in value_errors else VALIDATION_FAILED)
                for e in errors
            ),
        )

    async def run(
        self,
        prepared: Prepared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
    ) -> dict[str, Any]:
        """Execute a prepared document and return the response body."""
        if prepared.document is None:
            return {"errors": list(prepared.errors)}
        result = execute(
            self.schema,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        if is_awaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        body: dict[str, Any] = {}
        errors = result.errors or []
        if errors:
            body["errors"] = [self._format(error) for error in errors]
        # Errors with no path were raised before execution began (variables, operation name):
        # then the response has no "data" at all, as the GraphQL specification asks.
        if result.data is not None or not errors or any(e.path for e in errors):
            body["data"] = result.data
        return body

    @staticmethod
    def _format(error: GraphQLError) -> dict[str, Any]:
        original = error.original_error
        if isinstance(original, GridhubError):
            return _with_code(error, original.code)
        if original is None or isinstance(original, GraphQLError):
            # graphql-core's own refusals: variables that do not coerce, an operation name
            # that names nothing, an argument it could not coerce.
            is_input = error.message.startswith(("Variable '$", "Argument '"))
            return _with_code(error, BAD_USER_INPUT if is_input else BAD_REQUEST)
        log.error("unexpected error at %s", error.path, exc_info=original)
        masked = GraphQLError(
            "Internal server error", error.nodes, path=error.path, extensions={"code": INTERNAL}
        )
        return dict(masked.formatted)
