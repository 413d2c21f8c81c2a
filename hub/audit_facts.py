"""What a request's audit entry says, worked out from the request, its plan and its answer.

The request pipeline (:mod:`hub.pipeline`) and each endpoint fill a :class:`Facts` as they go —
who asked, which document, which answer — and turn it into an :class:`~audit.record.AuditRecord`
at the end:

- the fields read come from the document (every selected field of a shared type) and the plan
  (its decision for the field across the areas the caller sees), computed once per plan and
  document, not per row;
- variables keep their values except where they feed a filter on a field of tier 3 or above
  (a birth-date range, a care tag): those are replaced by ``"[redacted]"``;
- the fields read are those the answer holds, each with the decision the plan applied to it
  (:func:`answered_reads`); the people returned and the objects per type are those the answer
  holds, noted by the executor as it completes them (``RequestContext.person_ids`` /
  ``row_counts``), so ids are logged even when not selected, and only when returned;
- the grants named are those covering a field the document selects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    GraphQLInputObjectType,
    GraphQLSchema,
    ObjectFieldNode,
    OperationDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    VariableNode,
    Visitor,
    get_named_type,
    print_ast,
    visit,
)
from strawberry.utils.str_converters import to_camel_case

from audit.record import AuditRecord, FieldRead, Outcome, ReadDecision
from policies.fields import FIELDS, Tier
from policies.grants import is_grant_role
from resolvers.answer import Answer
from resolvers.filters import FILTERED_FIELDS
from schema.audit_log import AUDIT_TYPES
from schema.duties import AUDITOR, has_duty

if TYPE_CHECKING:
    from audit.writer import Submitted

REDACTED = "[redacted]"
#: Filter input types and the resource (and type) their fields read.
FILTER_TYPES = {
    "HouseFilter": ("houses", "House"),
    "PersonFilter": ("people", "Person"),
    "EntityFilter": ("entities", "Entity"),
    "EventFilter": ("events", "Event"),
}


def _sensitive_inputs() -> dict[str, frozenset[str]]:
    """Per filter input type, the GraphQL names of its fields that read a tier-3+ field."""
    found: dict[str, frozenset[str]] = {}
    for input_type, (resource, type_name) in FILTER_TYPES.items():
        found[input_type] = frozenset(
            to_camel_case(name)
            for name, fields in FILTERED_FIELDS.get(resource, {}).items()
            if any(FIELDS[type_name][f].tier >= Tier.SENSITIVE for f in fields)
        )
    return found


SENSITIVE_INPUTS = _sensitive_inputs()
#: Input types that carry values written to a shared record (a correction found on site): the
#: entry names the fields, never their values.
WRITTEN_VALUES: dict[str, frozenset[str]] = {"FieldChangeInput": frozenset({"value"})}


def query_hash(document: DocumentNode | None, text: str | None) -> str | None:
    """SHA-256 of the normalised query (printed from its AST: spacing and comments do not
    change it), or of the raw text when it did not parse."""
    if document is not None:
        return hashlib.sha256(print_ast(document).encode("utf-8")).hexdigest()
    if text is not None:
        return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()
    return None


class _Reads(Visitor):
    """Collects (type, field) of every selected field of a shared type, the variables that
    feed a sensitive filter field, and, per field node, the recorded fields selected beneath
    it (through fragments too): a field refused there refuses them all."""

    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.fields: set[tuple[str, str]] = set()
        self.sensitive_variables: set[str] = set()
        #: The field nodes entered and not yet left, and the fragment being visited.
        self.open: list[int] = []
        self.fragment: str | None = None
        self.own: dict[int, set[tuple[str, str]]] = {}
        self.spreads: dict[int | str, set[str]] = {}
        self.fragment_fields: dict[str, set[tuple[str, str]]] = {}

    def _holders(self) -> list[int | str]:
        holders: list[int | str] = list(self.open)
        if self.fragment is not None:
            holders.append(self.fragment)
        return holders

    def enter_fragment_definition(self, node: Any, *_: Any) -> None:
        self.fragment = node.name.value
        self.fragment_fields.setdefault(self.fragment, set())

    def leave_fragment_definition(self, *_: Any) -> None:
        self.fragment = None

    def enter_fragment_spread(self, node: Any, *_: Any) -> None:
        for holder in self._holders():
            self.spreads.setdefault(holder, set()).add(node.name.value)

    def enter_field(self, node: Any, *_: Any) -> None:
        parent = self.type_info.get_parent_type()
        self.open.append(id(node))
        self.own.setdefault(id(node), set())
        if parent is None:
            return
        if (
            parent.name in FIELDS and node.name.value in FIELDS[parent.name]
        ) or parent.name in AUDIT_TYPES:
            read = (parent.name, node.name.value)
            self.fields.add(read)
            for holder in self.open:
                self.own[holder].add(read)
            if self.fragment is not None:
                self.fragment_fields[self.fragment].add(read)

    def leave_field(self, *_: Any) -> None:
        self.open.pop()

    def beneath(self) -> dict[int, frozenset[tuple[str, str]]]:
        """Per field node, the recorded fields it and everything selected beneath it read."""
        closed: dict[str, set[tuple[str, str]]] = {}

        def of_fragment(name: str, seen: frozenset[str]) -> set[tuple[str, str]]:
            if name in closed:
                return closed[name]
            found = set(self.fragment_fields.get(name, ()))
            for inner in self.spreads.get(name, ()):
                if inner not in seen:
                    found |= of_fragment(inner, seen | {inner})
            closed[name] = found
            return found

        result = {}
        for node, own in self.own.items():
            found = set(own)
            for name in self.spreads.get(node, ()):
                found |= of_fragment(name, frozenset({name}))
            result[node] = frozenset(found)
        return result

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        parent = self.type_info.get_parent_input_type()
        named = get_named_type(parent) if parent is not None else None
        if (
            isinstance(named, GraphQLInputObjectType)
            and node.name.value in SENSITIVE_INPUTS.get(named.name, ())
            and isinstance(node.value, VariableNode)
        ):
            self.sensitive_variables.add(node.value.name.value)


@dataclass(frozen=True)
class DocumentFacts:
    """What a document reads, independent of who asks."""

    fields: frozenset[tuple[str, str]]
    sensitive_variables: frozenset[str]
    #: Per field node (by identity), the recorded fields it and its selections read.
    beneath: Mapping[int, frozenset[tuple[str, str]]] = field(
        default_factory=dict, compare=False, hash=False
    )


def document_facts(schema: GraphQLSchema, document: DocumentNode) -> DocumentFacts:
    type_info = TypeInfo(schema)
    reads = _Reads(type_info)
    visit(document, TypeInfoVisitor(type_info, reads))
    return DocumentFacts(
        frozenset(reads.fields), frozenset(reads.sensitive_variables), reads.beneath()
    )


def redact(
    variables: Mapping[str, Any] | None,
    operation: OperationDefinitionNode | None,
    facts: DocumentFacts | None,
) -> dict[str, Any]:
    """The variables with every value that feeds a tier-3+ filter field replaced; unknown
    shapes (a document that did not validate) are redacted whole, to be safe."""
    if not variables:
        return {}
    if operation is None or facts is None:
        return dict.fromkeys(variables, REDACTED)
    types = {
        definition.variable.name.value: get_named_type_name(definition.type)
        for definition in operation.variable_definitions or ()
    }
    result: dict[str, Any] = {}
    for name, value in variables.items():
        sensitive = SENSITIVE_INPUTS.get(types.get(name) or "", frozenset())
        written = WRITTEN_VALUES.get(types.get(name) or "", frozenset())
        if name in facts.sensitive_variables or name not in types:
            result[name] = REDACTED
        elif written:
            result[name] = _without_values(value, written)
        elif sensitive and isinstance(value, Mapping):
            result[name] = {k: (REDACTED if k in sensitive else v) for k, v in value.items()}
        else:
            result[name] = value
    return result


def _without_values(value: Any, keys: frozenset[str]) -> Any:
    """``value`` (an input object, or a list of them) with ``keys`` redacted."""
    if isinstance(value, list):
        return [_without_values(item, keys) for item in value]
    if isinstance(value, Mapping):
        return {k: (REDACTED if k in keys else v) for k, v in value.items()}
    return REDACTED


def get_named_type_name(node: Any) -> str | None:
    while hasattr(node, "type"):
        node = node.type
    return node.name.value if hasattr(node, "name") else None


@dataclass
class Facts:
    """What the request layer learns about one request, in the order it learns it."""

    request_id: str
    client_address: str | None
    started: float
    subject: str | None = None
    principal_kind: str | None = None
    department_code: str | None = None
    roles: tuple[str, ...] = ()
    client_id: str | None = None
    purpose: str | None = None
    operation_name: str | None = None
    operation_type: str | None = None
    query_hash: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    reads: list[FieldRead] = field(default_factory=list)
    grant_ids: tuple[str, ...] = ()
    person_ids: tuple[str, ...] = ()
    row_counts: dict[str, int] = field(default_factory=dict)
    outcome: Outcome = Outcome.ERROR
    error_code: str | None = None
    #: The entry, once handed to the writer as the answer was complete (it is written while
    #: the request's connection is given back); the answer leaves once it has committed.
    submitted: Submitted | None = None

    def record(self, latency_us: int) -> AuditRecord:
        return AuditRecord(
            request_id=self.request_id,
            outcome=self.outcome.value,
            latency_us=latency_us,
            subject=self.subject,
            principal_kind=self.principal_kind,
            department_code=self.department_code,
            roles=self.roles,
            client_id=self.client_id,
            client_address=self.client_address,
            operation_name=self.operation_name,
            operation_type=self.operation_type,
            query_hash=self.query_hash,
            variables=self.variables,
            purpose=self.purpose,
            reads=self.reads,
            person_ids=self.person_ids,
            row_counts=self.row_counts,
            grant_ids=self.grant_ids,
            error_code=self.error_code,
        )


def plan_reads(plan: Any, facts: DocumentFacts) -> tuple[list[FieldRead], tuple[str, ...]]:
    """The decision on each field the document reads, and the rules that allowed them:
    memoized on the plan (one per principal and policy version) by document.

    Rules of the plan's principal on the resources read are named; a grant (a rule of a role
    ``grant:<id>``) is named by its id, and only when it covers a field the document reads.

    Fields of the audit log's own types are the auditor's: ALLOW for a principal with the
    ``auditor`` role (whose grant is that role), DENY for anyone else.
    """
    memo: dict[DocumentFacts, tuple[list[FieldRead], tuple[str, ...]]] = plan.memo
    found = memo.get(facts)
    if found is None:
        auditor = has_duty(plan, AUDITOR)
        reads = [
            FieldRead(type_name, field_name, _decision(plan, auditor, type_name, field_name))
            for type_name, field_name in sorted(facts.fields)
        ]
        shared = {t for t, _ in facts.fields if t not in AUDIT_TYPES}
        resources = {plan.of_type(type_name).name for type_name in shared}
        grants = sorted(
            {
                _allowed_by(rule)
                for rule in plan.compiled_from
                if resources
                and rule.act.value != "deny"
                and (rule.resource in resources or rule.resource == "*")
                and (not is_grant_role(rule.subject) or _covers(rule, facts))
            }
        )
        if auditor and any(t in AUDIT_TYPES for t, _ in facts.fields):
            grants.append(f"role:{AUDITOR}")
        found = memo[facts] = (reads, tuple(grants))
    return found


def _allowed_by(rule: Any) -> str:
    """How the entry names what allowed a read: a grant by its id (``grant:7``, the role that
    holds its rules), any other rule by its text."""
    if is_grant_role(rule.subject):
        return str(rule.subject)
    return f"{rule.subject}:{rule.resource}/{rule.fields}@{rule.area}:{rule.act.value}"


def _covers(rule: Any, facts: DocumentFacts) -> bool:
    """Whether the rule covers a field the document reads (a grant is named only then)."""
    return any(rule.selector.covers(type_name, field) for type_name, field in facts.fields)


def _decision(plan: Any, auditor: bool, type_name: str, field_name: str) -> ReadDecision:
    if type_name in AUDIT_TYPES:
        return ReadDecision.ALLOW if auditor else ReadDecision.DENY
    return ReadDecision(plan.summary(type_name, field_name).upper())


_SEVERITY = {ReadDecision.ALLOW: 0, ReadDecision.MASK: 1, ReadDecision.DENY: 2}


def answered_reads(facts: DocumentFacts, answer: Answer) -> list[FieldRead]:
    """The fields the response holds, each with the decision the plan applied to it.

    A field is read when it appears on some object of the response (a value, a null, or an
    error at its path), and when a field above it was refused. Its decision is ``DENY`` if it
    was refused somewhere (``FORBIDDEN`` or ``PURPOSE_REQUIRED`` at it or at a field above it),
    else ``MASK`` if some value of it was shown masked (a masked form, a masked link or count
    answered null, care tags cut to the caller's reach), else ``ALLOW``. A field the document
    selects on objects the response does not hold (no rows, only ``totalCount``) is not read.
    """
    decisions = dict.fromkeys(answer.fields(), ReadDecision.ALLOW)
    for read in answer.masked:
        decisions[read] = ReadDecision.MASK
    for node in answer.refused_nodes:
        for read in facts.beneath.get(id(node), ()):
            decisions[read] = ReadDecision.DENY
    return [FieldRead(t, f, d.value) for (t, f), d in sorted(decisions.items())]


def outcome_of(body: Mapping[str, Any], reads: list[FieldRead]) -> tuple[Outcome, str | None]:
    """ok: everything allowed; partial: data with some value masked or refused, or an error;
    denied: no data because of the plan; error: no data for another reason. ``reads`` are the
    decisions applied (:func:`answered_reads`), so a field the plan masks elsewhere but not
    in this answer does not make it partial."""
    codes = [str(e.get("extensions", {}).get("code")) for e in body.get("errors", [])]
    refused = {"FORBIDDEN", "PURPOSE_REQUIRED"}
    first = codes[0] if codes else None
    data = body.get("data")
    if data is None or (codes and all(value is None for value in data.values())):
        if codes and set(codes) <= refused:
            return Outcome.DENIED, first
        return Outcome.ERROR, first
    if codes or any(read.decision != ReadDecision.ALLOW for read in reads):
        return Outcome.PARTIAL, first
    return Outcome.OK, None
