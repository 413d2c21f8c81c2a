"""``registerResource`` and ``updateResource``: a data officer's changes to the catalogue.

Only a principal with the data officer's duty may call them (:mod:`schema.duties`), and only
for their own department's resources (:mod:`catalog.changes`). Every change is checked whole
before anything is written: a refused input writes nothing, and one that changes nothing
writes no version.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from catalog import changes
from catalog.resources import Definition, FieldEntry, Sharing, UpdateFrequency
from schema.base import Info
from schema.catalog import DataResource, shown
from schema.duties import DATA_OFFICER, principal_with_duty
from store.errors import BadUserInput


@strawberry.input(description="A field of the resource's type and what it holds, in words.")
class ResourceFieldInput:
    name: str = strawberry.field(description="A field of the GraphQL type, e.g. `idNumber`.")
    description: str


@strawberry.input(description="A new resource of the officer's own department.")
class RegisterResourceInput:
    code: str = strawberry.field(description="Upper-case groups joined by hyphens: `RK-JC-001`.")
    name: str
    summary: str
    graphql_type: str = strawberry.field(description="The GraphQL type it maps to: `Person`.")
    fields: list[ResourceFieldInput] = strawberry.field(
        description="Data items of that type; tiers and masks come from their declaration."
    )
    sharing: Sharing
    update_frequency: UpdateFrequency
    sharing_condition: str | None = strawberry.field(
        default=None,
        description="Required for CONDITIONAL (the condition) and NOT_SHARED (the legal "
        "basis); absent for UNCONDITIONAL.",
    )
    department: str | None = strawberry.field(
        default=None, description="The owner; the officer's own department if left out."
    )


@strawberry.input(description="Changes to a resource registered through the API.")
class UpdateResourceInput:
    code: str
    expected_version: int | None = strawberry.field(
        default=None,
        description="Refuse the change unless the resource is still at this version.",
    )
    name: str | None = strawberry.UNSET
    summary: str | None = strawberry.UNSET
    graphql_type: str | None = strawberry.UNSET
    fields: list[ResourceFieldInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the whole list."
    )
    sharing: Sharing | None = strawberry.UNSET
    update_frequency: UpdateFrequency | None = strawberry.UNSET
    sharing_condition: str | None = strawberry.field(
        default=strawberry.UNSET, description="null removes it."
    )


@strawberry.type(description="The outcome of a catalogue change.")
class ResourceChange:
    resource: DataResource
    changed: bool = strawberry.field(
        description="False when the input changed nothing (no new version was written)."
    )


def _entries(fields: list[ResourceFieldInput]) -> tuple[FieldEntry, ...]:
    return tuple(FieldEntry(f.name, f.description) for f in fields)


async def register_resource(info: Info, input: RegisterResourceInput) -> ResourceChange:
    principal = principal_with_duty(
        info.context.plan, DATA_OFFICER, "Registering a catalogue resource"
    )
    definition = Definition(
        code=input.code,
        name=input.name,
        summary=input.summary,
        department=input.department or principal.department or "",
        graphql_type=input.graphql_type,
        fields=_entries(input.fields),
        sharing=input.sharing,
        sharing_condition=input.sharing_condition,
        update_frequency=input.update_frequency,
    )
    officer = changes.Officer(principal.subject, principal.department)
    saved = await changes.register(info.context.engine, officer, definition, info.context.now)
    return ResourceChange(resource=shown(info, [saved])[0], changed=True)


def _changes(input: UpdateResourceInput) -> dict[str, Any]:
    """The attributes the input sets; null is refused except where it means "remove"."""
    found: dict[str, Any] = {}
    for name in sorted(changes.CHANGEABLE):
        value = getattr(input, name)
        if value is strawberry.UNSET:
            continue
        if value is None and name != "sharing_condition":
            camel = to_camel_case(name)
            raise BadUserInput(f"`{camel}` can not be null; leave it out to keep it", field=camel)
        found[name] = _entries(value) if name == "fields" else value
    return found


async def update_resource(info: Info, input: UpdateResourceInput) -> ResourceChange:
    principal = principal_with_duty(
        info.context.plan, DATA_OFFICER, "Updating a catalogue resource"
    )
    officer = changes.Officer(principal.subject, principal.department)
    saved, changed = await changes.update(
        info.context.engine,
        officer,
        input.code.strip(),
        _changes(input),
        info.context.now,
        expected_version=input.expected_version,
    )
    return ResourceChange(resource=shown(info, [saved])[0], changed=changed)
