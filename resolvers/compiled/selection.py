"""The selection walk: a validated document's fields, grouped by response key as graphql-core
groups them (fragments spread, ``@skip``/``@include`` applied), for the compiler to turn into SQL.

The compiler takes a root field only when everything under it is something it knows how to
build; :class:`Unsupported` says it does not, and the field goes the field-by-field way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_argument_values


class Unsupported(Exception):
    """The compiler does not build this selection: the field-by-field path answers it."""


@dataclass(frozen=True, slots=True)
class Walk:
    """What every step of the walk needs: the schema, the fragments, the coerced variables."""

    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: VariableValues

    def included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode) -> bool:
        """``@skip(if:)`` and ``@include(if:)``, as graphql-core evaluates them."""
        for directive in node.directives or ():
            name = directive.name.value
            if name == "skip":
                if get_argument_values(GraphQLSkipDirective, directive, self.variables)["if"]:
                    return False
            elif name == "include":
                if not get_argument_values(GraphQLIncludeDirective, directive, self.variables)[
                    "if"
                ]:
                    return False
            else:
                raise Unsupported(f"directive @{name}")
        return True

    def matches(self, condition: str | None, runtime: GraphQLObjectType) -> bool:
        if condition is None or condition == runtime.name:
            return True
        named = self.schema.get_type(condition)
        return named is not None and any(i.name == condition for i in runtime.interfaces)

    def collect(
        self,
        runtime: GraphQLObjectType,
        selection_sets: list[SelectionSetNode],
    ) -> dict[str, list[FieldNode]]:
        """Response key → the field nodes under it, in document order (graphql-core's
        CollectFields): the order keys appear in is the order of the answer's keys."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._collect(runtime, selection_set, grouped, visited)
        return grouped

    def _collect(
        self,
        runtime: GraphQLObjectType,
        selection_set: SelectionSetNode,
        grouped: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if self.included(selection):
                    key = selection.alias.value if selection.alias else selection.name.value
                    grouped.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if self.included(selection) and self.matches(
                    condition.name.value if condition else None, runtime
                ):
                    self._collect(runtime, selection.selection_set, grouped, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in visited or not self.included(selection):
                    continue
                visited.add(name)
                fragment = self.fragments.get(name)
                if fragment is None:
                    continue
                if fragment.variable_definitions:
                    raise Unsupported("fragment variables")
                if self.matches(fragment.type_condition.name.value, runtime):
                    self._collect(runtime, fragment.selection_set, grouped, visited)

    def subfields(
        self, runtime: GraphQLObjectType, nodes: list[FieldNode]
    ) -> dict[str, list[FieldNode]]:
        """The merged selections of all nodes of one response key."""
        return self.collect(runtime, [n.selection_set for n in nodes if n.selection_set])

    def arguments(self, parent: GraphQLObjectType, node: FieldNode) -> dict[str, Any]:
        """The field's coerced arguments (filter inputs as their input classes)."""
        field = parent.fields[node.name.value]
        return get_argument_values(field, node, self.variables)
