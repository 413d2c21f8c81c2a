"""Production mode's error messages: nothing about the schema the caller did not write.

graphql-core's messages are written for a developer exploring a schema: "Cannot query field
'x' on type 'Grid'. Did you mean 'code'?", "Field 'grid' argument 'code' of type 'String!' is
required", "Value 'X' does not exist in 'Gender' enum". Each names a type, a field, an argument
or an enum value the caller never wrote, which is how schema-recovery tools (Clairvoyance and
the like) rebuild a schema with introspection switched off.

In production mode every validation error is rewritten by the rule that raised it into a
message that echoes only names taken from the caller's own document (the error's AST nodes), and
keeps its code and locations; errors of executing (a variable that does not coerce) are
rewritten the same way. A last check (:func:`only_written_names`) replaces any message that
still quotes a name the document does not contain with a generic one, so a rule this module
does not know can not leak either.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    ArgumentNode,
    ASTValidationRule,
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    NamedTypeNode,
    VariableDefinitionNode,
    VariableNode,
    specified_rules,
    validate,
)

GENERIC = "The query does not fit the schema."
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"|`([^`]*)`")
_CONFLICT = re.compile(r"^Fields '([^']+)' conflict")
_VARIABLE = re.compile(r"^Variable '\$([_A-Za-z][_0-9A-Za-z]*)'")


class _Reporting:
    """A rule's view of the validation context that marks each error with the rule's name
    (rules report through ``self.report_error`` or straight to ``context.report_error``)."""

    def __init__(self, context: Any, rule: str) -> None:
        self._context = context
        self._rule = rule

    def report_error(self, error: GraphQLError) -> None:
        error.rule = self._rule  # type: ignore[attr-defined]
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


_TAGGED: dict[type[ASTValidationRule], type[ASTValidationRule]] = {}


def _tagged(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """The rule, marking each error it reports with its own name (made once per rule)."""
    found = _TAGGED.get(rule)
    if found is None:
        found = _TAGGED[rule] = _tag(rule)
    return found


def _tag(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    def __init__(self: ASTValidationRule, context: Any) -> None:  # noqa: N807
        rule.__init__(self, _Reporting(context, rule.__name__))  # type: ignore[arg-type]

    return type(rule.__name__, (rule,), {"__init__": __init__})


def tagged_rules() -> tuple[type[ASTValidationRule], ...]:
    return tuple(_tagged(rule) for rule in specified_rules)


def validate_tagged(
    schema: GraphQLSchema, document: DocumentNode, max_errors: int, suggestions: bool = False
) -> list[GraphQLError]:
    """:func:`graphql.validate` with each error carrying the name of its rule (``error.rule``),
    stopping after ``max_errors``; "did you mean" suggestions only if asked for."""
    return validate(
        schema,
        document,
        tagged_rules(),
        max_errors=max_errors,
        hide_suggestions=not suggestions,
    )


def _name(node: Any) -> str | None:
    name = getattr(node, "name", None)
    return getattr(name, "value", None)


def _first_node(error: GraphQLError, *kinds: type) -> Any:
    for node in error.nodes or ():
        if isinstance(node, kinds):
            return node
    return None


def masked_validation_message(error: GraphQLError) -> str:
    """A message for a validation error that names only what the caller wrote."""
    rule = getattr(error, "rule", None)
    message = error.message
    field = _first_node(error, FieldNode)
    field_name = _name(field)
    if rule == "FieldsOnCorrectTypeRule" and field_name:
        return f"Cannot query field '{field_name}' here."
    if rule == "KnownArgumentNamesRule":
        argument = _name(_first_node(error, ArgumentNode))
        return f"Unknown argument '{argument}' here." if argument else GENERIC
    if rule == "KnownTypeNamesRule":
        name = _name(_first_node(error, NamedTypeNode))
        return f"Unknown type '{name}'." if name else GENERIC
    if rule == "KnownDirectivesRule":
        name = _name(_first_node(error, DirectiveNode))
        return f"Directive '@{name}' is unknown or not allowed here." if name else GENERIC
    if rule == "ScalarLeafsRule" and field_name:
        if "must have a selection" in message:
            return f"Field '{field_name}' must have a selection of subfields."
        return f"Field '{field_name}' must not have a selection of subfields."
    if rule == "ProvidedRequiredArgumentsRule":
        if field_name:
            return f"Field '{field_name}' is missing a required argument."
        directive = _name(_first_node(error, DirectiveNode))
        return f"Directive '@{directive}' is missing a required argument." if directive else GENERIC
    if rule == "ValuesOfCorrectTypeRule":
        return "A value in the query is not valid where it is used."
    if rule in ("VariablesInAllowedPositionRule", "VariablesAreInputTypesRule"):
        variable = _name(_first_node(error, VariableNode, VariableDefinitionNode))
        if variable is None:
            definition = _first_node(error, VariableDefinitionNode)
            variable = _name(definition.variable) if definition else None
        return f"Variable '${variable}' does not fit where it is used." if variable else GENERIC
    if rule == "PossibleFragmentSpreadsRule":
        spread = _name(_first_node(error, FragmentSpreadNode))
        return (
            f"Fragment '{spread}' cannot be spread here."
            if spread
            else ("This fragment cannot be spread here.")
        )
    if rule == "OverlappingFieldsCanBeMergedRule":
        conflict = _CONFLICT.match(message)
        if conflict:
            return f"Fields '{conflict.group(1)}' conflict; give them different aliases."
        return GENERIC
    if rule == "FragmentsOnCompositeTypesRule":
        return "A fragment's type condition is not an object, interface or union type."
    return message


def masked_execution_message(message: str) -> str:
    """A message for an error raised while coercing variables or arguments."""
    variable = _VARIABLE.match(message)
    if variable:
        return f"Variable '${variable.group(1)}' got an invalid value."
    if message.startswith("Argument '"):
        return "An argument got an invalid value."
    return message


#: What a hub error says in production mode when its own message names something the caller
#: did not write (a filter refused for the field it reads), by code.
GENERIC_BY_CODE = {
    "FORBIDDEN": "Not allowed to read or filter on this",
    "PURPOSE_REQUIRED": "This needs a declared purpose that your access covers",
    "BAD_USER_INPUT": "A value in the request can not be used here",
}


def only_written_names(message: str, written: str, generic: str = GENERIC) -> str:
    """``message`` if every name it quotes occurs in the caller's text, else ``generic``."""
    for match in _QUOTED.finditer(message):
        quoted = (match.group(1) or match.group(2) or match.group(3) or "").lstrip("$@")
        if quoted and quoted not in written:
            return generic
    return message


def mask_hub_error(formatted: dict[str, Any], written: str) -> dict[str, Any]:
    """A hub error (a resolver's) in production mode: its message if it names only what the
    caller wrote, else its code's generic one; without ``extensions.field`` when the caller did
    not write that field (the other extensions are about data, not the schema)."""
    extensions = dict(formatted.get("extensions") or {})
    code = str(extensions.get("code"))
    generic = GENERIC_BY_CODE.get(code, "The request can not be answered as asked")
    formatted["message"] = only_written_names(str(formatted["message"]), written, generic)
    formatted["extensions"] = {
        key: value
        for key, value in extensions.items()
        if key != "field" or (isinstance(value, str) and value in written)
    }
    return formatted
