"""``requestAccess``, ``reviewAccessRequest``, ``decideAccessRequest`` and ``revokeGrant``.

Each checks the caller's role first (:mod:`schema.duties`) and leaves the rest — separation of
duties, states, narrowing — to :mod:`catalog.workflow`, which writes each step in one
transaction of its own. The writes go through the process's policy store when the request
came through the app (so its memory follows at once), else through a store of their own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from catalog import workflow
from catalog.requests import parse_grant_key, parse_request_key
from policies.store import PolicyStore
from schema.base import Info
from schema.duties import CHIEF_DATA_OFFICER, DATA_OFFICER, principal_with_duty
from schema.grants import AccessRequest, Grant


@strawberry.input(description="What a data officer asks for, for their own department.")
class RequestAccessInput:
    resource: str = strawberry.field(description="The catalogue code, e.g. `RK-LX-003`.")
    fields: list[str] = strawberry.field(description="Fields of the resource.")
    purpose_code: str = strawberry.field(
        description="The purpose code apps will send in `X-Access-Purpose`: `emergency_contact`."
    )
    purpose: str = strawberry.field(description="What the data is for, in words.")
    duration_days: int = strawberry.field(
        description="How long, from the grant, at most `GRIDHUB_GRANT_MAX_DAYS`."
    )
    area: str | None = strawberry.field(
        default=None,
        description="An area code of the district; left out (or the district's code): the "
        "whole district.",
    )
    masked: bool = strawberry.field(
        default=False,
        description="Only the masked form of the fields (`138****5678`): no purpose needed.",
    )


def _policy(info: Info) -> PolicyStore:
    # None in-process (tests, benchmarks): no app to share a store with
    store = info.context.policy_store
    return PolicyStore(info.context.engine) if store is None else store


def _actor(info: Info, role: str, what: str) -> workflow.Actor:
    principal = principal_with_duty(info.context.plan, role, what)
    return workflow.Actor(principal.subject, principal.department)


async def request_access(info: Info, input: RequestAccessInput) -> AccessRequest:
    actor = _actor(info, DATA_OFFICER, "Requesting access")
    ask = workflow.Ask(
        resource=input.resource,
        fields=tuple(name.strip() for name in input.fields),
        area=input.area,
        purpose_code=input.purpose_code.strip(),
        purpose=input.purpose,
        duration_days=input.duration_days,
        masked=input.masked,
    )
    saved = await workflow.request_access(
        _policy(info), actor, ask, info.context.now, info.context.settings.grant_max_days
    )
    return AccessRequest.of(saved)


async def review_access_request(
    info: Info, id: strawberry.ID, approve: bool, comment: str | None = None
) -> AccessRequest:
    actor = _actor(info, DATA_OFFICER, "Reviewing an access request")
    saved = await workflow.review(
        _policy(info), actor, parse_request_key(id), approve, comment, info.context.now
    )
    return AccessRequest.of(saved)


async def decide_access_request(
    info: Info,
    id: strawberry.ID,
    approve: bool,
    comment: str | None = None,
    fields: Annotated[
        list[str] | None, strawberry.argument(description="Grant only these of the fields asked.")
    ] = None,
    area: Annotated[
        str | None, strawberry.argument(description="Grant only this area within the one asked.")
    ] = None,
    expires_at: Annotated[
        datetime | None,
        strawberry.argument(description="End earlier than the days asked (with a time zone)."),
    ] = None,
) -> AccessRequest:
    actor = _actor(info, CHIEF_DATA_OFFICER, "Deciding an access request")
    narrowing = workflow.Narrowing(
        fields=None if fields is None else tuple(name.strip() for name in fields),
        area=area,
        expires_at=expires_at,
    )
    saved = await workflow.decide(
        _policy(info),
        actor,
        parse_request_key(id),
        approve,
        comment,
        narrowing,
        info.context.now,
    )
    return AccessRequest.of(saved)


async def revoke_grant(info: Info, id: strawberry.ID, reason: str) -> Grant:
    actor = _actor(info, CHIEF_DATA_OFFICER, "Revoking a grant")
    saved = await workflow.revoke(
        _policy(info), actor, parse_grant_key(id), reason, info.context.now
    )
    return Grant.of(saved)
