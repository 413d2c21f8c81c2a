"""Access requests and grants in GraphQL: the types, ``accessRequests`` and ``grants``.

Unlike the catalogue, these are not for everyone: a request says what a department wants and
why. Who sees which:

- a data officer: the requests and grants of their own department, and those on their
  department's resources (the requests waiting on their review among them);
- the chief data officer: all of them;
- an auditor: all of them, read-only;
- anyone else: ``FORBIDDEN``.

The mutations are in :mod:`schema.grant_changes`.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from catalog import requests, store
from catalog.grants import grant_rule
from catalog.requests import GrantState, Listing, RequestState, StoredGrant, StoredRequest
from policies.rules import TYPES_OF_RESOURCE
from schema.base import Info
from schema.duties import AUDITOR, CHIEF_DATA_OFFICER, DATA_OFFICER, has_duty
from store.errors import BadUserInput, Forbidden

strawberry.enum(
    RequestState,
    name="AccessRequestState",
    description="SUBMITTED: waits for the owning department's data officer; OWNER_APPROVED: "
    "waits for the chief data officer; GRANTED: became a grant; REJECTED: refused.",
)
strawberry.enum(
    GrantState,
    description="ACTIVE until it EXPIRED or was REVOKED; then its rules are gone.",
)

#: The types of the workflow: records of who asked for what, not shared data (so they have no
#: declaration in ``policies.fields``; the test of declarations skips them).
GRANT_TYPES = frozenset({"AccessRequest", "Grant"})


@strawberry.type(
    description="Fields of a resource granted to a department, in an area, for a "
    "purpose, until a time: Casbin rules of the role `grant:<id>` while ACTIVE."
)
class Grant:
    id: strawberry.ID = strawberry.field(
        description="`grant:7`: also the role holding its rules, and what audit entries of "
        "the requests it allowed name in `grantIds`."
    )
    request_id: strawberry.ID = strawberry.field(description="The request it came from.")
    resource_code: str
    department: str = strawberry.field(description="The department it was granted to.")
    policy_resource: str = strawberry.field(description="The resource its rules are on.")
    fields: list[str] = strawberry.field(
        description="The fields granted, perhaps fewer than asked."
    )
    area: str | None = strawberry.field(description="The area granted; null: the whole district.")
    masked: bool = strawberry.field(description="Only the masked form of the fields.")
    purpose_code: str = strawberry.field(
        description="The purpose (`X-Access-Purpose`) it serves fields of tier 3 and above for."
    )
    roles: list[str] = strawberry.field(
        description="The department's app roles given the grant: who receives it."
    )
    rules: list[str] = strawberry.field(
        description="Its rule, as `gridhub policy list` prints it (held while ACTIVE)."
    )
    granted_at: datetime
    expires_at: datetime
    state: GrantState
    ended_at: datetime | None
    ended_by: str | None = strawberry.field(description="Who revoked it; null for an expiry.")
    end_reason: str | None

    @classmethod
    def of(cls, grant: StoredGrant) -> Grant:
        type_name = TYPES_OF_RESOURCE[grant.policy_resource][0]
        rule = grant_rule(
            grant.id,
            grant.department,
            type_name,
            grant.fields,
            grant.area,
            grant.masked,
            grant.purpose_code,
        )
        return cls(
            id=strawberry.ID(grant.key),
            request_id=strawberry.ID(requests.request_key(grant.request_id)),
            resource_code=grant.resource_code,
            department=grant.department,
            policy_resource=grant.policy_resource,
            fields=list(grant.fields),
            area=grant.area,
            masked=grant.masked,
            purpose_code=grant.purpose_code,
            roles=list(grant.roles),
            rules=[str(rule)],
            granted_at=grant.granted_at,
            expires_at=grant.expires_at,
            state=grant.state,
            ended_at=grant.ended_at,
            ended_by=grant.ended_by,
            end_reason=grant.end_reason,
        )


@strawberry.type(description="A department's request for fields of a catalogue resource.")
class AccessRequest:
    id: strawberry.ID = strawberry.field(description="`request:12`.")
    resource_code: str
    owner: str = strawberry.field(
        description="The department owning the resource, whose data officer reviews."
    )
    department: str = strawberry.field(description="The requesting department.")
    requested_by: str
    requested_at: datetime
    fields: list[str]
    area: str | None = strawberry.field(description="null: the whole district.")
    masked: bool = strawberry.field(description="Asked only for the masked form of the fields.")
    purpose_code: str
    purpose: str = strawberry.field(description="What the data is for, in words.")
    duration_days: int
    state: RequestState
    reviewed_by: str | None = strawberry.field(
        description="The owner's data officer; null when the owner asked, or nothing was reviewed."
    )
    reviewed_at: datetime | None
    review_comment: str | None
    decided_by: str | None = strawberry.field(
        description="The chief data officer; null for an UNCONDITIONAL resource (granted on "
        "request)."
    )
    decided_at: datetime | None
    decision_comment: str | None
    grant: Grant | None = strawberry.field(description="What it became, once GRANTED.")

    @classmethod
    def of(cls, request: StoredRequest) -> AccessRequest:
        return cls(
            id=strawberry.ID(request.key),
            resource_code=request.resource_code,
            owner=request.owner,
            department=request.department,
            requested_by=request.requested_by,
            requested_at=request.requested_at,
            fields=list(request.fields),
            area=request.area,
            masked=request.masked,
            purpose_code=request.purpose_code,
            purpose=request.purpose,
            duration_days=request.duration_days,
            state=request.state,
            reviewed_by=request.reviewed_by,
            reviewed_at=request.reviewed_at,
            review_comment=request.review_comment,
            decided_by=request.decided_by,
            decided_at=request.decided_at,
            decision_comment=request.decision_comment,
            grant=None if request.grant is None else Grant.of(request.grant),
        )


@strawberry.input(description="Which requests to list; every filter given must hold.")
class AccessRequestFilter:
    state: RequestState | None = None
    department: str | None = strawberry.field(
        default=None, description="The requesting department."
    )
    resource: str | None = strawberry.field(default=None, description="A catalogue code.")


@strawberry.input(description="Which grants to list; every filter given must hold.")
class GrantFilter:
    state: GrantState | None = None
    department: str | None = strawberry.field(
        default=None, description="The department granted to."
    )
    resource: str | None = strawberry.field(default=None, description="A catalogue code.")


def visible_to(info: Info, what: str) -> str | None:
    """The department whose records the caller sees (None: all of them), or FORBIDDEN."""
    plan = info.context.plan
    if has_duty(plan, CHIEF_DATA_OFFICER) or has_duty(plan, AUDITOR):
        return None
    principal = getattr(plan, "principal", None)
    if has_duty(plan, DATA_OFFICER) and principal is not None and principal.department:
        return str(principal.department)
    raise Forbidden(f"{what} needs the {DATA_OFFICER}, {CHIEF_DATA_OFFICER} or {AUDITOR} role")


async def _listing(
    info: Info, given: AccessRequestFilter | GrantFilter | None, visible: str | None
) -> Listing:
    if given is None:
        return Listing(visible_to=visible)
    if given.department is not None:
        known = await store.department_codes(await info.context.connection())
        if given.department not in known:
            raise BadUserInput(f"There is no department `{given.department}`", field="department")
    return Listing(
        state=None if given.state is None else given.state.value,
        department=given.department,
        resource=given.resource,
        visible_to=visible,
    )


async def resolve_access_requests(
    info: Info, filter: AccessRequestFilter | None = None
) -> list[AccessRequest]:
    """Requests the caller may see, newest first."""
    visible = visible_to(info, "Reading access requests")
    listing = await _listing(info, filter, visible)
    found = await requests.list_requests(await info.context.connection(), listing)
    return [AccessRequest.of(request) for request in found]


async def resolve_grants(info: Info, filter: GrantFilter | None = None) -> list[Grant]:
    """Grants the caller may see, newest first."""
    visible = visible_to(info, "Reading grants")
    listing = await _listing(info, filter, visible)
    found = await requests.list_grants(await info.context.connection(), listing)
    return [Grant.of(grant) for grant in found]
