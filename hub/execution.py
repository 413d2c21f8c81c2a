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

import orjson
import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    Visitor,
    execute,
    parse,
    visit,
)
from graphql.execution.incremental.incremental_executor import IncrementalExecutor
from graphql.pyutils import is_awaitable

from hub.limits import (
    TOO_MANY_TOKENS,
    CostModel,
    Limits,
    refusal,
    scan,
    static_refusals,
    too_deep,
    uses_introspection,
)
from hub.production_errors import (
    mask_hub_error,
    masked_execution_message,
    masked_validation_message,
    only_written_names,
    validate_tagged,
)
from policies.fields import FIELDS
from resolvers.answer import ANSWER, Answer, Selection
from resolvers.compiled import dispatch
from schema.audit_log import AUDIT_TYPES
from store.availability import is_unavailable
from store.errors import Forbidden, GridhubError, PurposeRequired

log = logging.getLogger("gridhub.graphql")
T = TypeVar("T")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
BAD_REQUEST = "BAD_REQUEST"
INTERNAL = "INTERNAL_SERVER_ERROR"
INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
#: Validation stops after this many errors: a document with thousands of mistakes costs the
#: same to refuse as one with a few, and its answer stays small.
MAX_VALIDATION_ERRORS = 10


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed, validated document, or the errors that stop it from running."""

    document: DocumentNode | None
    errors: tuple[dict[str, Any], ...] = ()
    #: Facts others derive from the document once (the audit recorder's), kept with it.
    memo: dict[str | tuple[Any, ...], Any] = field(default_factory=dict, compare=False)
    #: The query text as sent (production mode echoes only names that occur in it).
    text: str = field(default="", compare=False)
    #: The cost model of a valid document (None: the document does not run).
    cost: CostModel | None = field(default=None, compare=False)
    #: Whether the document reads ``__schema`` or ``__type`` (introspection).
    introspects: bool = False
    #: The parsed document even when it does not validate: its operations' names and types
    #: still tell the audit entry what was tried, and GET whether a mutation was sent.
    parsed: DocumentNode | None = field(default=None, compare=False)

    def memoized(self, key: str, work: Callable[[], T]) -> T:
        """``work()``, done once per cached document: what is derived from a parsed query
        alone (the audit's facts, its hash) is the same for every request that sends it."""
        found = self.memo.get(key)
        if found is None:
            found = self.memo[key] = work()
        return found

    def operation(self, operation_name: str | None) -> OperationDefinitionNode | None:
        """The operation that runs: the named one, or the first."""
        document = self.document or self.parsed
        if document is None:
            return None
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode) and (
                operation_name is None
                or (definition.name is not None and definition.name.value == operation_name)
            ):
                return definition
        return None

    def operation_type(self, operation_name: str | None) -> OperationType | None:
        operation = self.operation(operation_name)
        return None if operation is None else operation.operation

    def cost_refusal(
        self, operation_name: str | None, variables: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """``QUERY_TOO_COSTLY`` for this request, or None; worked out once per document and
        operation unless a page size (``first``) is a variable."""
        if self.cost is None:
            return None
        operation = self.operation(operation_name)
        if self.cost.variable_sizes:
            error = self._variable_cost_refusal(operation, operation_name, variables)
        else:
            key = ("cost", operation_name)
            if key not in self.memo:
                self.memo[key] = self.cost.refusal(operation, None)
            error = self.memo[key]
        return None if error is None else dict(error.formatted)

    def _variable_cost_refusal(
        self,
        operation: OperationDefinitionNode | None,
        operation_name: str | None,
        variables: dict[str, Any] | None,
    ) -> GraphQLError | None:
        """The cost refusal of a document whose page sizes are variables, kept for the last
        :data:`COST_MEMO_SIZE` sets of variables: an app asks the same page again and again,
        and walking the document costs more than looking its answer up."""
        assert self.cost is not None
        try:
            frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
        except TypeError:
            return self.cost.refusal(operation, variables)
        key = ("cost", operation_name, frozen)
        if key in self.memo:
            found: GraphQLError | None = self.memo[key]
            return found
        error = self.memo[key] = self.cost.refusal(operation, variables)
        kept: list[Any] = self.memo.setdefault("cost-keys", [])
        kept.append(key)
        if len(kept) > COST_MEMO_SIZE:
            self.memo.pop(kept.pop(0), None)
        return error


#: Sets of variables whose cost refusal a document keeps (see ``Prepared.cost_refusal``).
COST_MEMO_SIZE = 64
#: Types whose fields an audit entry records (the shared data's and the audit log's own).
RECORDED_TYPES = frozenset(FIELDS) | AUDIT_TYPES
#: Types whose objects are rows of the shared data: an entry counts them per type.
COUNTED_TYPES = frozenset({"Grid", "House", "Room", "Person", "Entity", "Event"})
REFUSED_CODES = frozenset({Forbidden.code, PurposeRequired.code})


class AnsweringExecutor(IncrementalExecutor):
    """graphql-core's executor, noting in the request's :class:`~resolvers.answer.Answer` each
    object of a recorded type completed into the response (with the fields selected on it),
    and each person returned: what the response holds, not what its resolvers fetched."""

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        name = return_type.name
        if name in RECORDED_TYPES:
            context = self.context_value
            answer: Answer | None = getattr(context, "answer", None)
            if answer is not None:
                answer.selections.add(self._selection(return_type, field_details_list))
                if name in COUNTED_TYPES:
                    context.row_counts[name] += 1
                    if name == "Person":
                        context.person_ids.add(result._key)
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def _selection(self, return_type: Any, field_details_list: Any) -> Selection:
        """The fields selected on objects of this field group, worked out once per group."""
        memo: dict[tuple[Any, int], tuple[Any, Selection]] = self.__dict__.setdefault(
            "_answer_selections", {}
        )
        key = (return_type, id(field_details_list))
        found = memo.get(key)
        if found is None:
            grouped = self.collect_subfields(return_type, field_details_list)[0]
            names = frozenset(
                (return_type.name, details[0].node.name.value)
                for details in grouped.values()
                if not details[0].node.name.value.startswith("__")
            )
            found = memo[key] = (field_details_list, Selection(names))
        return found[1]


def _nul_refusal() -> dict[str, Any]:
    """The refusal of a value holding a NUL. No text the hub stores or looks up holds one
    (PostgreSQL's text can not): such a value can match nothing, and sent to the database it
    would fail as an internal error."""
    return {
        "message": "A value holds a NUL character (\\u0000), which no value here can hold",
        "extensions": {"code": BAD_USER_INPUT},
    }


def _holds_nul(value: Any) -> bool:
    """Whether a string anywhere in decoded JSON variables holds a NUL."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def _literal_nul(document: DocumentNode) -> bool:
    """Whether a string literal of the document holds a NUL (written ``"\\u0000"``)."""
    found = False

    class Finder(Visitor):
        def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
            nonlocal found
            found = found or "\x00" in node.value

    visit(document, Finder())
    return found


def _with_code(error: GraphQLError, code: str) -> dict[str, Any]:
    formatted = error.formatted
    extensions = dict(formatted.get("extensions") or {})
    extensions.setdefault("code", code)
    formatted["extensions"] = extensions
    return dict(formatted)


class Executor:
    """One per app: holds the schema, the limits, the mode and an LRU cache of prepared
    documents.

    ``production`` rewrites every message graphql-core writes about the schema so that it names
    nothing the caller did not write (see :mod:`hub.production_errors`); limit refusals keep theirs.
    """

    def __init__(
        self,
        schema: strawberry.Schema,
        cache_size: int = 512,
        limits: Limits | None = None,
        production: bool = False,
        compiled: bool = False,
    ) -> None:
        self.schema: GraphQLSchema = schema._schema
        #: Whether reads of the shared data go through the compiled path (one SQL statement
        #: per root field, the answer built by the database); see ``resolvers.compiled``.
        self.compiled = compiled
        self._cache: OrderedDict[str, Prepared] = OrderedDict()
        self._cache_size = cache_size
        self.limits = limits or Limits()
        self.production = production

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
        """Scan, parse, check the limits, validate: each step only if the one before passed,
        so a refusal costs no more than the step that refuses."""
        limits = self.limits
        refused = scan(query, limits)
        if refused is not None:
            return Prepared(None, (dict(refused.formatted),), text=query)
        try:
            document = parse(query, max_tokens=limits.max_tokens)
        except GraphQLError as error:
            if error.message.startswith("Document contains more than"):
                tokens = refusal(
                    TOO_MANY_TOKENS, "The query has too many tokens", limits.max_tokens
                )
                return Prepared(None, (dict(tokens.formatted),), text=query)
            return Prepared(None, (_with_code(error, PARSE_FAILED),), text=query)
        except RecursionError:
            return Prepared(None, (dict(too_deep(limits).formatted),), text=query)
        if _literal_nul(document):
            return Prepared(None, (_nul_refusal(),), text=query, parsed=document)
        refusals = static_refusals(document, limits)
        cost = CostModel(self.schema, document, limits)
        if not refusals and not cost.variable_sizes:
            # The cost of literal page sizes needs no validation: refused before it (unknown
            # fields count nothing), every operation in the document, like the other limits.
            for definition in document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    costly = cost.refusal(definition, None)
                    if costly is not None:
                        refusals.append(costly)
                        break
        if refusals:
            errors = tuple(dict(e.formatted) for e in refusals)
            return Prepared(None, errors, text=query, parsed=document)
        invalid = validate_tagged(
            self.schema, document, MAX_VALIDATION_ERRORS, suggestions=not self.production
        )
        if invalid:
            formatted = tuple(self._validation_error(e, query) for e in invalid)
            return Prepared(None, formatted, text=query, parsed=document)
        return Prepared(
            document,
            text=query,
            cost=cost,
            introspects=uses_introspection(document),
        )

    def _validation_error(self, error: GraphQLError, text: str) -> dict[str, Any]:
        # Wrong argument values (an unknown enum, a string for an Int) are the user's input
        # being wrong, not the document's shape: tell them apart by the rule that caught them.
        rule = getattr(error, "rule", None)
        code = BAD_USER_INPUT if rule == "ValuesOfCorrectTypeRule" else VALIDATION_FAILED
        formatted = _with_code(error, code)
        if self.production:
            formatted["message"] = only_written_names(masked_validation_message(error), text)
        return formatted

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
        costly = prepared.cost_refusal(operation_name, variables)
        if costly is not None:
            return {"errors": [costly]}
        if variables and _holds_nul(variables):
            return {"errors": [_nul_refusal()]}
        document = prepared.document
        if self.compiled and hasattr(context, "engine"):
            divided = dispatch.split(self.schema, document, operation_name, variables, context)
            if divided is not None:
                rest: dict[str, Any] = {"data": {}}
                if divided.rest is not None:
                    rest = await self._execute(
                        prepared, divided.rest, variables, operation_name, context
                    )
                    if rest.get("data") is None:
                        return rest
                answers = await dispatch.answer(divided, context)
                rest["data"] = dispatch.splice(divided, answers, rest["data"])
                return rest
        return await self._execute(prepared, document, variables, operation_name, context)

    async def run_delivery(
        self,
        prepared: Prepared,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        delivered: Any,
    ) -> dict[str, Any]:
        """Execute a subscription's selection once, for one delivery: its root field answers
        ``delivered`` (the GraphQL "ExecuteSubscriptionEvent"), field by field."""
        if prepared.document is None:
            return {"errors": list(prepared.errors)}
        if variables and _holds_nul(variables):
            return {"errors": [_nul_refusal()]}
        return await self._execute(
            prepared, prepared.document, variables, operation_name, context, delivered
        )

    async def _execute(
        self,
        prepared: Prepared,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Any,
        root_value: Any = None,
    ) -> dict[str, Any]:
        """graphql-core's field-by-field execution of ``document`` (the whole request's, or
        what the compiled path left of it) and its errors in the hub's shape."""
        answer: Answer | None = getattr(context, "answer", None)
        noting = ANSWER.set(answer)
        try:
            result = execute(
                self.schema,
                document,
                root_value=root_value,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
                hide_suggestions=self.production,
                executor_class=AnsweringExecutor,
            )
            if is_awaitable(result):
                result = await result
        finally:
            ANSWER.reset(noting)
        assert isinstance(result, ExecutionResult)
        body: dict[str, Any] = {}
        errors = result.errors or []
        for error in errors:
            # The database went away while a field was read: the whole request is answered
            # SERVICE_UNAVAILABLE (hub.faults), not a field's INTERNAL_SERVER_ERROR and its trace.
            if error.original_error is not None and is_unavailable(error.original_error):
                raise error.original_error
        if answer is not None:
            for error in errors:
                original = error.original_error
                if isinstance(original, GridhubError) and original.code in REFUSED_CODES:
                    answer.refused_nodes.extend(error.nodes or ())
        if errors:
            written = prepared.text
            if self.production and variables:
                written += orjson.dumps(variables, default=str).decode()
            body["errors"] = [self._format(error, written) for error in errors]
        # Errors with no path were raised before execution began (variables, operation name):
        # then the response has no "data" at all, as the GraphQL specification asks.
        if result.data is not None or not errors or any(e.path for e in errors):
            body["data"] = result.data
        return body

    def _format(self, error: GraphQLError, text: str) -> dict[str, Any]:
        original = error.original_error
        if isinstance(original, GridhubError):
            formatted = _with_code(error, original.code)
            return mask_hub_error(formatted, text) if self.production else formatted
        if original is None or isinstance(original, GraphQLError):
            # graphql-core's own refusals: variables that do not coerce, an operation name
            # that names nothing, an argument it could not coerce.
            is_input = error.message.startswith(("Variable '$", "Argument '"))
            formatted = _with_code(error, BAD_USER_INPUT if is_input else BAD_REQUEST)
            if self.production:
                message = masked_execution_message(error.message)
                formatted["message"] = only_written_names(message, text)
            return formatted
        log.error("unexpected error at %s", error.path, exc_info=original)
        masked = GraphQLError(
            "Internal server error", error.nodes, path=error.path, extensions={"code": INTERNAL}
        )
        return dict(masked.formatted)
