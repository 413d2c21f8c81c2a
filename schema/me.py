"""``Query.me``: who the hub thinks is asking, and what their plan lets them see — so a caller
can find out why a field comes back masked or refused without asking an administrator."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import strawberry

from catalog.requests import grants_by_id
from policies.grants import grant_id_of
from policies.plan import AccessPlan
from schema.base import Info
from schema.grants import Grant


@strawberry.enum(description="What the plan does with a field.")
class FieldDecision(enum.Enum):
    ALLOW = "allow"
    MASK = "mask"
    PURPOSE_REQUIRED = "purpose_required"
    DENY = "deny"


@strawberry.enum(description="A person (from an identity provider) or a department app.")
class PrincipalKind(enum.Enum):
    PERSON = "person"
    CLIENT = "client"


@strawberry.type(description="The decision on one field for the rows of one area.")
class FieldAccess:
    area: str = strawberry.field(
        description="An area code, or `*` for every other area the resource is seen in. Where "
        "`*` is listed, an area code lists only the fields decided otherwise there (DENY "
        "included), so no field is listed twice with one decision."
    )
    type: str = strawberry.field(description="The GraphQL type, e.g. `Person`.")
    field: str = strawberry.field(description="The field, e.g. `idNumber`.")
    decision: FieldDecision = strawberry.field(
        description="ALLOW: the value; MASK: its masked form; PURPOSE_REQUIRED: only with an "
        "`X-Access-Purpose` the rule names."
    )
    purposes: list[str] = strawberry.field(
        description="For a field of tier 3 and above: the purpose codes whose "
        "`X-Access-Purpose` serves it in full here (`*`: any declared purpose) — what unlocks a "
        "PURPOSE_REQUIRED field, or lifts a MASK. Empty for a field that needs no purpose."
    )


@strawberry.type(description="What the caller sees of one resource.")
class ResourceAccess:
    resource: str = strawberry.field(description="`people`, `houses`, ... (see the catalogue).")
    areas: list[str] = strawberry.field(
        description="The areas whose rows are seen (`*`: everywhere); empty: no row at all."
    )
    excluded_areas: list[str] = strawberry.field(
        description="Areas taken out again by a deny rule."
    )
    fields: list[FieldAccess] = strawberry.field(
        description="Every field not denied, per area; a field not listed is DENY (in an area "
        "beside `*`: decided as under `*`)."
    )


@strawberry.type(description="The principal a request acts for.")
class Me:
    subject: str = strawberry.field(description="The principal's subject (the token's `sub`).")
    kind: PrincipalKind
    department: str | None = strawberry.field(description="The department's code.")
    client_id: str | None = strawberry.field(description="The OAuth client, for an app.")
    roles: list[str] = strawberry.field(description="Roles, inherited ones included.")
    areas: list[str] = strawberry.field(
        description="Assigned area codes: what `own` stands for in the rules."
    )
    purpose: str | None = strawberry.field(description="The `X-Access-Purpose` declared.")
    unknown_purpose: str | None = strawberry.field(
        description="The declared purpose when none of the caller's rules or grants serves it "
        "(a typo, or a purpose no grant was made for): it unlocks nothing. Null when no purpose "
        "was declared or the purpose is known."
    )
    access: list[ResourceAccess] = strawberry.field(
        description="Per resource, the rows and the field decisions of this request's plan."
    )
    grant_ids: strawberry.Private[tuple[int, ...]]

    @strawberry.field(
        description="The live grants this request's plan holds (through the caller's roles): "
        "resource, fields, area, purpose and expiry of each, oldest first."
    )
    async def grants(self, info: Info) -> list[Grant]:
        found = await grants_by_id(await info.context.connection(), self.grant_ids)
        return [Grant.of(grant) for grant in found]


def _fields(
    by_area: Mapping[str, Mapping[str, Any]],
    purposes: Mapping[str, Mapping[str, tuple[str, ...]]],
) -> list[FieldAccess]:
    return [
        FieldAccess(
            area=area,
            type=qualified.split(".", 1)[0],
            field=qualified.split(".", 1)[1],
            decision=FieldDecision(str(decision)),
            purposes=list(purposes.get(area, {}).get(qualified, ())),
        )
        for area, decisions in by_area.items()
        for qualified, decision in decisions.items()
    ]


def resolve_me(info: Info) -> Me | None:
    """The request's principal and plan; null when the request has none (in-process use)."""
    plan = info.context.plan
    if not isinstance(plan, AccessPlan):  # only a principal's plan has a principal
        return None
    principal = plan.principal
    identity = info.context.identity
    return Me(
        subject=principal.subject,
        kind=PrincipalKind(principal.kind),
        department=principal.department,
        client_id=getattr(identity, "client_id", None),
        roles=list(plan.roles),
        areas=list(principal.areas),
        purpose=plan.purpose,
        unknown_purpose=plan.purpose if plan.purpose_known() is False else None,
        grant_ids=tuple(found for role in plan.roles if (found := grant_id_of(role)) is not None),
        access=[
            ResourceAccess(
                resource=name,
                areas=list(description.areas),
                excluded_areas=list(description.excluded),
                fields=_fields(description.fields, description.purposes),
            )
            for name, description in plan.describe().items()
        ],
    )
