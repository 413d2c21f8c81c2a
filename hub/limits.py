"""Limits on a query document, checked before it is validated or run.

A hostile document costs the hub in three places: parsing and validating it (its size and
nesting), running it (the objects it may return), and answering its errors (one per mistake).
Each limit here is checked as early as it can be, and each refusal is one GraphQL error with
its own ``extensions.code`` and the limit in ``extensions.maximum``:

1. :func:`scan` — before parsing, with regular expressions: the text's length, tokens,
   directives, aliases and nesting (``QUERY_TOO_LONG``, ``TOO_MANY_TOKENS``,
   ``TOO_MANY_DIRECTIVES``, ``TOO_MANY_ALIASES``, ``QUERY_TOO_DEEP``), so a flood is refused for
   the price of a scan, not a parse, and a document repeating an unknown directive 10,000 times
   gets one error, not 10,000;
2. :func:`static_refusals` — on the parsed document, before validation: root fields per
   operation and the selection depth through fragments (each followed once, cycles cut);
3. :class:`CostModel` — after validation: the objects a response may hold, from ``first``
   arguments and list sizes (``QUERY_TOO_COSTLY``). It depends on variables only where a
   ``first`` is one; otherwise it is worked out once per cached document.

The results of 1 and 2 and the cost of a document without variable sizes are cached with the
document (see :mod:`hub.execution`), so a repeated query pays for none of this again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    Visitor,
    get_named_type,
    is_composite_type,
    visit,
)

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
QUERY_TOO_LONG = "QUERY_TOO_LONG"
TOO_MANY_ROOT_FIELDS = "TOO_MANY_ROOT_FIELDS"
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
#: Every code a limit refusal carries (production mode never masks these).
LIMIT_CODES = frozenset(
    {
        QUERY_TOO_DEEP,
        TOO_MANY_ALIASES,
        TOO_MANY_DIRECTIVES,
        TOO_MANY_TOKENS,
        QUERY_TOO_LONG,
        TOO_MANY_ROOT_FIELDS,
        QUERY_TOO_COSTLY,
    }
)
#: Fields whose subtrees are the schema's own description: they read no data, are exempt from
#: depth and cost, and are held to graphql-core's ``MaxIntrospectionDepthRule`` instead.
INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
#: The size the cost model assumes for a list that is not a connection (``children``,
#: ``rooms``, ``catalog``, …): none of the schema's plain lists is long.
PLAIN_LIST_SIZE = 10
#: Bracket nesting (``{``, ``[``, ``(``) refused before parsing whatever ``max_depth`` says: the
#: parser, the validator and the executor all recurse once or more per level.
MIN_NESTING_LIMIT = 64


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one app enforces (built from its settings by :meth:`from_settings`)."""

    max_depth: int = 10
    max_aliases: int = 15
    max_directives: int = 50
    max_tokens: int = 1000
    max_query_length: int = 10_000
    max_root_fields: int = 10
    max_cost: int = 10_000
    default_page_size: int = 20

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_directives=settings.max_directives,
            max_tokens=settings.max_tokens,
            max_query_length=settings.max_query_length,
            max_root_fields=settings.max_root_fields,
            max_cost=settings.max_cost,
            default_page_size=settings.default_page_size,
        )

    @property
    def nesting_limit(self) -> int:
        return max(MIN_NESTING_LIMIT, 2 * self.max_depth)


#: The longest string and the longest list a request's variables may hold. Nothing the schema
#: takes comes near them; past them a value costs the database more than it can be worth (SQLite
#: refuses a LIKE pattern over 50,000 bytes).
MAX_VARIABLE_STRING = 10_000
MAX_VARIABLE_ITEMS = 1_000
#: Variables in a body smaller than this can not break either limit, and are not walked.
_SMALL_VARIABLES = MAX_VARIABLE_STRING


def oversized_variable(variables: Any, size: int) -> GraphQLError | None:
    """``BAD_USER_INPUT`` for variables holding a string or a list past the limits, found by
    walking them (without recursion) only when the text they came in (``size`` bytes) could."""
    if size < _SMALL_VARIABLES or not variables:
        return None
    stack = [variables]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if len(value) > MAX_VARIABLE_STRING:
                return refusal(
                    "BAD_USER_INPUT",
                    f"A string in `variables` is longer than {MAX_VARIABLE_STRING} characters",
                    MAX_VARIABLE_STRING,
                )
        elif isinstance(value, list | dict):
            if len(value) > MAX_VARIABLE_ITEMS:
                return refusal(
                    "BAD_USER_INPUT",
                    f"A list or object in `variables` has more than {MAX_VARIABLE_ITEMS} items",
                    MAX_VARIABLE_ITEMS,
                )
            stack.extend(value.values() if isinstance(value, dict) else value)
    return None


def refusal(code: str, message: str, maximum: int) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, "maximum": maximum})


_STRINGS_AND_COMMENTS = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:\\.|[^"\\\n\r])*"|\#[^\n\r]*'
)
_NUL_ESCAPE = re.compile(r"\\u(?:0000|\{0*\})")
_ARGUMENTS = re.compile(r"\([^()]*\)")
_INNERMOST_BRACKETS = re.compile(r"\{[^{}\[\]()]*\}|\[[^{}\[\]()]*\]|\([^{}\[\]()]*\)")
_INNERMOST_BRACES = re.compile(r"\{[^{}]*\}")
_TOKEN = (
    r"[\s,\ufeff]*(?:\.\.\.|[_A-Za-z][_0-9A-Za-z]*|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
    r'|""|[^\s,\ufeff])'
)


@cache
def _more_tokens_than(count: int) -> re.Pattern[str]:
    """Matches a text that has more than ``count`` tokens, reading ``count + 1`` of them."""
    # Atomic: a token once read is never read again shorter, so a text with fewer tokens
    # fails in one pass instead of backtracking through every way to split it.
    return re.compile(f"(?>{_TOKEN}){{{count + 1}}}")


def _strip(match: re.Match[str]) -> str:
    return "" if match.group().startswith("#") else '""'


def _nesting_over(text: str, pattern: re.Pattern[str], opens: int, limit: int) -> bool:
    """Whether brackets in ``text`` nest deeper than ``limit``: innermost pairs are removed
    level by level (each pass in C), and what stays unclosed counts as nesting too."""
    if opens <= limit:
        return False
    levels = 0
    while levels <= limit:
        text, removed = pattern.subn("", text)
        if not removed:
            unclosed = text.count("{") + text.count("[") + text.count("(")
            return levels + unclosed > limit
        levels += 1
    return True


def scan(text: str, limits: Limits) -> GraphQLError | None:
    """Refuse a text for its length, tokens, directives, aliases or nesting before it is
    parsed, with regular expressions and string counts (no Python loop per token).

    graphql-core's parser costs some 20 µs a token and recurses per bracket: these checks make
    a flood cost a scan, not a parse. Strings and comments are taken out first, so what they
    hold does not count; argument lists are taken out before aliases and selection sets are
    counted (outside them a colon is an alias, a brace a selection set). The counts are exact
    but for depth, where an inline fragment's braces count as a level (each ``...`` allows one
    more): the precise depth, through fragments, is :func:`static_refusals`' to check.
    """
    if len(text) > limits.max_query_length:
        return refusal(
            QUERY_TOO_LONG,
            f"The query is longer than {limits.max_query_length} characters; send values "
            "as variables",
            limits.max_query_length,
        )
    if "\x00" in text or _NUL_ESCAPE.search(text):
        return GraphQLError(
            "Strings may not contain the NUL character", extensions={"code": "BAD_USER_INPUT"}
        )
    stripped = _STRINGS_AND_COMMENTS.sub(_strip, text)
    if _more_tokens_than(limits.max_tokens).match(stripped):
        return refusal(
            TOO_MANY_TOKENS,
            f"The query has more than {limits.max_tokens} tokens",
            limits.max_tokens,
        )
    if stripped.count("@") > limits.max_directives:
        return refusal(
            TOO_MANY_DIRECTIVES,
            f"The query uses more than {limits.max_directives} directives",
            limits.max_directives,
        )
    opens = stripped.count("{") + stripped.count("[") + stripped.count("(")
    if _nesting_over(stripped, _INNERMOST_BRACKETS, opens, limits.nesting_limit):
        return too_deep(limits)
    selections = _ARGUMENTS.sub("", stripped)
    if selections.count(":") > limits.max_aliases:
        return refusal(
            TOO_MANY_ALIASES,
            f"The query uses more than {limits.max_aliases} aliases",
            limits.max_aliases,
        )
    # A field's selection set is one brace deeper than the field, so without fragments the
    # braces nest exactly as deep as the fields; an inline fragment's braces add a level that
    # is not a field's, so each `...` allows one more.
    allowed = limits.max_depth + selections.count("...")
    if _nesting_over(selections, _INNERMOST_BRACES, selections.count("{"), allowed):
        return too_deep(limits)
    return None


def too_deep(limits: Limits) -> GraphQLError:
    return refusal(
        QUERY_TOO_DEEP,
        f"The query is nested deeper than {limits.max_depth} levels",
        limits.max_depth,
    )


def static_refusals(document: DocumentNode, limits: Limits) -> list[GraphQLError]:
    """The limits a parsed document breaks that :func:`scan` can not see, one error per
    limit, before it is validated: root fields and depth, both through fragments."""
    errors = []
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if any(_root_fields(op.selection_set, fragments) > limits.max_root_fields for op in operations):
        errors.append(
            refusal(
                TOO_MANY_ROOT_FIELDS,
                f"An operation asks for more than {limits.max_root_fields} root fields",
                limits.max_root_fields,
            )
        )
    depth = _Depth(fragments, limits)
    if any(depth.of(op.selection_set, 0) > limits.max_depth for op in operations):
        errors.append(too_deep(limits))
    return errors


def uses_introspection(document: DocumentNode) -> bool:
    """Whether the document reads the schema (``__schema`` or ``__type``; ``__typename`` is
    not introspection: it names the type of an object the caller already has)."""
    found = False

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> Any:
            nonlocal found
            if node.name.value in INTROSPECTION_FIELDS:
                found = True
                return Visitor.BREAK
            return None

    visit(document, Finder())
    return found


def _root_fields(selection_set: SelectionSetNode, fragments: dict[str, Any]) -> int:
    """The fields an operation selects at its root, through fragments on the root (each
    fragment once: a cycle is the validator's to report)."""
    count, stack, seen = 0, [selection_set], set()
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                count += 1
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in seen:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)
    return count


class _Depth:
    """The selection depth of an operation, following fragment spreads.

    A fragment's depth is worked out once (memoized), so a spread blow-up costs nothing; a
    fragment in a cycle counts 0 where it recurs (the validator refuses the cycle). The walk
    gives up as soon as the depth or the nesting of spreads passes the limit, so neither a deep
    document nor a long chain of fragments can exhaust Python's recursion.
    """

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], limits: Limits) -> None:
        self.fragments = fragments
        self.limit = limits.max_depth
        self.nesting = limits.nesting_limit
        self.memo: dict[str, int] = {}
        self.visiting: set[str] = set()

    def of(self, selection_set: SelectionSetNode | None, level: int) -> int:
        if selection_set is None:
            return 0
        if level > self.nesting:
            return self.limit + 1
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in INTROSPECTION_FIELDS:
                    continue
                found = 1 + self.of(selection.selection_set, level + 1)
            elif isinstance(selection, InlineFragmentNode):
                found = self.of(selection.selection_set, level + 1)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                name = selection.name.value
                if name in self.memo:
                    found = self.memo[name]
                elif name in self.visiting or name not in self.fragments:
                    found = 0
                else:
                    self.visiting.add(name)
                    found = self.memo[name] = self.of(self.fragments[name].selection_set, level + 1)
                    self.visiting.discard(name)
            if found > deepest:
                deepest = found
                if deepest > self.limit:
                    return deepest
        return deepest


class CostModel:
    """The objects a response to a validated operation may hold.

    Each object a field returns counts 1; a connection's ``edges`` count ``first`` objects each
    (the argument's value, its variable's value, or the default page size; a negative one 0),
    an edge's ``node`` is the edge's own object, and a list that is not a connection counts
    :data:`PLAIN_LIST_SIZE`. Scalars are free: their number is bounded by the tokens. Inline
    fragments and fragments count as if they all applied; ``@skip``/``@include`` are ignored. The
    model is linear, so a fragment's cost is worked out once per request and type.
    """

    def __init__(self, schema: GraphQLSchema, document: DocumentNode, limits: Limits) -> None:
        self.schema = schema
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variable_sizes = _uses_variable_sizes(document)

    def cost(self, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        walk = _CostWalk(self, variables or {}, defaults)
        return walk.of(operation.selection_set, root, None)

    def refusal(
        self, operation: OperationDefinitionNode | None, variables: Mapping[str, Any] | None
    ) -> GraphQLError | None:
        if operation is None:
            return None
        if self.cost(operation, variables) <= self.limits.max_cost:
            return None
        return refusal(
            QUERY_TOO_COSTLY,
            f"The query may return more than {self.limits.max_cost} objects; ask for smaller "
            "pages (`first`) or fewer nested lists",
            self.limits.max_cost,
        )


def _uses_variable_sizes(document: DocumentNode) -> bool:
    """Whether any ``first`` argument is a variable (then the cost depends on the request)."""
    found = False

    class Finder(Visitor):
        def enter_argument(self, node: Any, *_: Any) -> Any:
            nonlocal found
            if node.name.value == "first" and isinstance(node.value, VariableNode):
                found = True
                return Visitor.BREAK
            return None

    visit(document, Finder())
    return found


class _CostWalk:
    def __init__(
        self, model: CostModel, variables: Mapping[str, Any], defaults: dict[str, Any]
    ) -> None:
        self.model = model
        self.variables = variables
        self.defaults = defaults
        self.memo: dict[tuple[str, str, int | None], int] = {}

    def _first(self, field: FieldNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value != "first":
                continue
            value: Any = argument.value
            if isinstance(value, VariableNode):
                name = value.name.value
                if name in self.variables:
                    value = self.variables[name]
                else:
                    value = self.defaults.get(name)
            if isinstance(value, IntValueNode):
                value = int(value.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(value, 0)
            if value is None:
                break
            return self.model.limits.default_page_size
        return self.model.limits.default_page_size

    def of(self, selection_set: SelectionSetNode | None, parent: Any, page: int | None) -> int:
        """Objects under a selection set of type ``parent``, per instance of the parent;
        ``page`` is the connection's page size when ``parent`` is a connection."""
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.model.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, target or parent, page)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                fragment = self.model.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                key = (fragment.name.value, getattr(parent, "name", ""), page)
                if key not in self.memo:
                    self.memo[key] = 0  # a cycle (refused by validation) counts nothing
                    target = self.model.schema.get_type(fragment.type_condition.name.value)
                    self.memo[key] = self.of(fragment.selection_set, target or parent, page)
                total += self.memo[key]
        return total

    def _field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        name = node.name.value
        if name in INTROSPECTION_FIELDS or name.startswith("__"):
            return 0
        fields = getattr(parent, "fields", None)
        definition = fields.get(name) if fields else None
        if definition is None:
            return 0
        field_type = definition.type
        named = get_named_type(field_type)
        if not is_composite_type(named):
            return 0
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        if isinstance(field_type, GraphQLList):
            if name == "edges" and page is not None:
                items = page
            else:
                items = PLAIN_LIST_SIZE
            return items * (1 + self.of(node.selection_set, named, None))
        if name == "node" and parent is not None and getattr(parent, "name", "").endswith("Edge"):
            return self.of(node.selection_set, named, None)  # the edge's own object
        child_page = self._first(node) if _is_connection(named) else None
        return 1 + self.of(node.selection_set, named, child_page)


def _is_connection(type_: Any) -> bool:
    fields: Any = getattr(type_, "fields", None)
    return bool(fields) and "edges" in fields and "pageInfo" in fields
