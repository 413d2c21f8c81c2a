"""Access requests, reviews and decisions: the catalogue's chief-data-officer workflow.

A department's data officer asks for fields of a catalogue resource, in an area, for a purpose,
for some days. What happens next is the resource's sharing attribute's:

- ``UNCONDITIONAL``: granted at once;
- ``CONDITIONAL``: reviewed by the owning department's data officer (skipped when the owner is
  the one asking: the request is owner-approved as it is made), then decided by the chief data
  officer, who may narrow it — fewer fields, a sub-area, an earlier expiry — but never widen it;
- ``NOT_SHARED``: refused, with the resource's legal basis as the reason; nothing is written.

Separation of duties: nobody reviews or decides a request of their own making or of their own
department. Roles (data officer, chief data officer) are checked by the schema
(:mod:`schema.duties`) before anything here runs; what only the request knows is checked here.

Each step is one transaction through the policy store's unit of work: the request's state, the
grant's row and the grant's Casbin lines commit together (and the policy version with them), on
a connection of its own — never the request's, which only reads — and everything is checked
before anything is written, so a refused step writes nothing. A step that lost a race (two
deciders at once) is told so with ``BAD_USER_INPUT`` and changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from catalog import requests, store
from catalog.changes import Officer as Actor
from catalog.grants import app_roles, end_grant, make_grant
from catalog.requests import GRANTS, REQUESTS, GrantState, RequestState, StoredGrant, StoredRequest
from catalog.resources import Sharing
from catalog.store import StoredResource
from policies.fields import FIELDS, Mask
from policies.rules import PolicyError, check_purposes
from policies.store import PolicyStore
from store.errors import BadUserInput, Forbidden
from store.models import AreaLevel, Grid

__all__ = ["Actor", "Ask", "Narrowing", "decide", "expire", "request_access", "review", "revoke"]


@dataclass(frozen=True, slots=True)
class Ask:
    """What a data officer asks for."""

    resource: str
    fields: tuple[str, ...]
    #: An area code of the district; None (or the district's own code): the whole district.
    area: str | None
    purpose_code: str
    purpose: str
    duration_days: int
    #: Only the masked form of the fields (a mask rule): no purpose is needed to read it.
    masked: bool = False


@dataclass(frozen=True, slots=True)
class Narrowing:
    """What the chief data officer grants instead of what was asked; None keeps the ask."""

    fields: tuple[str, ...] | None = None
    area: str | None = None
    expires_at: datetime | None = None


@asynccontextmanager
async def _unit(policy: PolicyStore) -> AsyncIterator[tuple[AsyncSession, AsyncConnection]]:
    """One transaction of the store's (its policy writes join it); a lost race on a unique
    key is the caller's to retry, not a server error."""
    try:
        async with policy.transaction() as session:
            yield session, await session.connection()
    except IntegrityError:
        raise BadUserInput("The request changed meanwhile; read it again and retry") from None


def _refuse(problems: list[str], what: str) -> None:
    if problems:
        raise BadUserInput(f"{what}: " + "; ".join(problems), problems=problems)


async def _area(connection: AsyncConnection, code: str | None) -> tuple[str | None, str | None]:
    """The area as stored (None: the whole district) and a problem, if the code names no area
    of the district."""
    if code is None:
        return None, None
    code = code.strip()
    level = await connection.scalar(select(Grid.level).where(Grid.code == code))
    if level is None:
        return None, f"`{code}` is not an area of the district"
    return (None if level == AreaLevel.DISTRICT.value else code), None


def _field_problems(resource: StoredResource, fields: Sequence[str], masked: bool) -> list[str]:
    problems = []
    held = resource.definition.field_names
    if not fields:
        problems.append("ask for at least one field")
    if len(set(fields)) != len(fields):
        problems.append("a field is named twice")
    unknown = [name for name in fields if name not in held]
    if unknown:
        problems.append(
            f"{resource.definition.code} has no field {', '.join(f'`{n}`' for n in unknown)}"
            f" (it holds {', '.join(held)})"
        )
    if masked:
        type_name = resource.definition.graphql_type
        bare = [
            name
            for name in fields
            if name in held and FIELDS[type_name][name].mask is Mask.WITHHOLD
        ]
        if bare:
            problems.append(f"{', '.join(bare)}: no masked form; ask for the value instead")
    return problems


def _in_order(resource: StoredResource, fields: Sequence[str]) -> tuple[str, ...]:
    wanted = set(fields)
    return tuple(name for name in resource.definition.field_names if name in wanted)


async def _resource(connection: AsyncConnection, code: str) -> StoredResource:
    found = await store.get(connection, code)
    if found is None:
        raise BadUserInput(f"There is no resource {code} in the catalogue", field="resource")
    return found


async def _request(connection: AsyncConnection, request_id: int) -> StoredRequest:
    found = await requests.get_request(connection, request_id)
    if found is None:
        raise BadUserInput(f"There is no request {requests.request_key(request_id)}", field="id")
    return found


async def request_access(
    policy: PolicyStore, actor: Actor, ask: Ask, at: datetime, max_days: int
) -> StoredRequest:
    """Record a request of ``actor``'s department; grant it at once if the resource is shared
    unconditionally. ``max_days`` is the longest duration allowed (a setting)."""
    if actor.department is None:
        raise Forbidden("Requesting access needs a principal of a department")
    async with _unit(policy) as (session, connection):
        resource = await _resource(connection, ask.resource.strip())
        definition = resource.definition
        if definition.sharing is Sharing.NOT_SHARED:
            raise Forbidden(
                f"{definition.code} is not shared: {definition.sharing_condition}",
                resource=definition.code,
                reason=definition.sharing_condition,
            )
        problems = _field_problems(resource, ask.fields, ask.masked)
        area, problem = await _area(connection, ask.area)
        problems += [problem] if problem else []
        if not 1 <= ask.duration_days <= max_days:
            problems.append(f"`durationDays` is from 1 to {max_days}")
        try:
            if ask.purpose_code == "*":
                raise PolicyError("*")
            check_purposes([ask.purpose_code])
        except PolicyError:
            problems.append(
                f"`{ask.purpose_code}` is not a purpose code (lower-case letters, digits and _, "
                "as in elderly_care)"
            )
        if not ask.purpose.strip():
            problems.append("say what the data is for in `purpose`")
        if not await app_roles(connection, actor.department):
            problems.append(
                f"department {actor.department} has no app to receive a grant: give its app a "
                "role in the department first"
            )
        _refuse(problems, f"Requesting {definition.code}")
        fields = _in_order(resource, ask.fields)
        await _not_repeated(connection, actor.department, definition.code, fields, area, ask, at)

        own = definition.department == actor.department
        state = (
            RequestState.GRANTED
            if definition.sharing is Sharing.UNCONDITIONAL
            else RequestState.OWNER_APPROVED
            if own
            else RequestState.SUBMITTED
        )
        result = await connection.execute(
            insert(REQUESTS).values(
                resource_code=definition.code,
                department_code=actor.department,
                requested_by=actor.subject,
                requested_at=at,
                fields=list(fields),
                area=area,
                masked=ask.masked,
                purpose_code=ask.purpose_code,
                purpose=ask.purpose.strip(),
                duration_days=ask.duration_days,
                state=state.value,
                decided_at=at if state is RequestState.GRANTED else None,
            )
        )
        (request_id,) = result.inserted_primary_key or (None,)
        assert request_id is not None
        saved = await _request(connection, int(request_id))
        if state is RequestState.GRANTED:
            await make_grant(
                session,
                policy,
                saved,
                definition.graphql_type,
                fields=fields,
                area=area,
                at=at,
                expires_at=at + timedelta(days=ask.duration_days),
            )
        return await _request(connection, int(request_id))


async def _not_repeated(
    connection: AsyncConnection,
    department: str,
    resource: str,
    fields: tuple[str, ...],
    area: str | None,
    ask: Ask,
    at: datetime,
) -> None:
    """Refuse a request that adds nothing: one like it still waits (same fields, area,
    masking and purpose code), or an active grant of the department already covers it (those
    fields and more, that area or around it, for that purpose code). Two would otherwise make
    two grants of one access, silently, each to be reviewed, revoked and audited."""
    same = (
        REQUESTS.c.department_code == department,
        REQUESTS.c.resource_code == resource,
        REQUESTS.c.purpose_code == ask.purpose_code,
        REQUESTS.c.masked == ask.masked,
    )
    waiting = await connection.execute(
        select(REQUESTS.c.id, REQUESTS.c.fields, REQUESTS.c.area).where(
            *same,
            REQUESTS.c.state.in_([RequestState.SUBMITTED.value, RequestState.OWNER_APPROVED.value]),
        )
    )
    for row in waiting:
        if set(row.fields) == set(fields) and row.area == area:
            key = requests.request_key(row.id)
            raise BadUserInput(
                f"The same request is already waiting: {key} (read it with `accessRequest`)",
                duplicateOf=key,
            )
    grants = await connection.execute(
        select(GRANTS).where(
            GRANTS.c.department_code == department,
            GRANTS.c.resource_code == resource,
            GRANTS.c.purpose_code == ask.purpose_code,
            GRANTS.c.masked == ask.masked,
            GRANTS.c.state == GrantState.ACTIVE.value,
            GRANTS.c.expires_at > at,
        )
    )
    for row in grants:
        grant = StoredGrant.of(row)
        covers_area = grant.area is None or (area is not None and area.startswith(grant.area))
        if covers_area and set(fields) <= set(grant.fields):
            raise BadUserInput(
                f"An active grant already covers this: {grant.key}, until "
                f"{grant.expires_at.isoformat()}; ask again once it has ended, or for more "
                "than it holds",
                duplicateOf=grant.key,
            )


def _not_yours(actor: Actor, request: StoredRequest, step: str) -> None:
    """Separation of duties: not of one's own making, not of one's own department."""
    if actor.subject == request.requested_by:
        raise Forbidden(f"{step} {request.key}: it is your own request")
    if actor.department == request.department:
        raise Forbidden(
            f"{step} {request.key}: it is a request of your own department ({request.department})"
        )


async def _move(
    connection: AsyncConnection, request: StoredRequest, expected: RequestState, **values: object
) -> None:
    """Change the request from ``expected`` only: a step that lost a race changes nothing."""
    result = await connection.execute(
        update(REQUESTS)
        .where(REQUESTS.c.id == request.id, REQUESTS.c.state == expected.value)
        .values(**values)
    )
    if result.rowcount != 1:
        raise BadUserInput(f"{request.key} was handled meanwhile; read it again", id=request.key)


def _waiting(request: StoredRequest, expected: RequestState, step: str) -> None:
    if request.state is not expected:
        raise BadUserInput(
            f"{step} {request.key}: it is {request.state.name}, not {expected.name}",
            id=request.key,
            state=request.state.name,
        )


def _comment(approve: bool, comment: str | None) -> str | None:
    text = (comment or "").strip() or None
    if not approve and text is None:
        raise BadUserInput("A rejection says why in `comment`", field="comment")
    return text


async def review(
    policy: PolicyStore,
    actor: Actor,
    request_id: int,
    approve: bool,
    comment: str | None,
    at: datetime,
) -> StoredRequest:
    """The owning department's data officer approves (on to the chief data officer) or
    rejects a submitted request."""
    text = _comment(approve, comment)
    async with _unit(policy) as (_, connection):
        request = await _request(connection, request_id)
        _not_yours(actor, request, "Reviewing")
        if actor.department != request.owner:
            raise Forbidden(
                f"Reviewing {request.key}: only a data officer of {request.owner}, which owns "
                f"{request.resource_code}, reviews it"
            )
        _waiting(request, RequestState.SUBMITTED, "Reviewing")
        await _move(
            connection,
            request,
            RequestState.SUBMITTED,
            state=(RequestState.OWNER_APPROVED if approve else RequestState.REJECTED).value,
            reviewed_by=actor.subject,
            reviewed_at=at,
            review_comment=text,
        )
        return await _request(connection, request_id)


async def _narrowed(
    connection: AsyncConnection,
    resource: StoredResource,
    request: StoredRequest,
    narrowing: Narrowing,
    at: datetime,
) -> tuple[tuple[str, ...], str | None, datetime]:
    """The fields, area and expiry to grant: the ask, or less of it; more is refused."""
    asked_until = at + timedelta(days=request.duration_days)
    problems = []
    fields = request.fields
    if narrowing.fields is not None:
        extra = [name for name in narrowing.fields if name not in request.fields]
        if extra:
            problems.append(f"fields not asked for: {', '.join(extra)}")
        elif not narrowing.fields:
            problems.append("grant at least one field, or reject the request")
        fields = _in_order(resource, narrowing.fields)
    area = request.area
    if narrowing.area is not None:
        area, problem = await _area(connection, narrowing.area)
        if problem:
            problems.append(problem)
        elif request.area is not None and (area is None or not area.startswith(request.area)):
            problems.append(f"`{narrowing.area}` is not within the area asked for, {request.area}")
    until = asked_until
    if narrowing.expires_at is not None:
        until = narrowing.expires_at
        if until.tzinfo is None:
            problems.append("`expiresAt` needs a time zone")
        elif until <= at:
            problems.append("`expiresAt` is in the past")
        elif until > asked_until:
            problems.append(
                f"`expiresAt` is after {asked_until.isoformat()}, the {request.duration_days} "
                "days asked for"
            )
    _refuse(problems, f"Deciding {request.key}: a decision may narrow the request, never widen it")
    return fields, area, until


async def decide(
    policy: PolicyStore,
    actor: Actor,
    request_id: int,
    approve: bool,
    comment: str | None,
    narrowing: Narrowing,
    at: datetime,
) -> StoredRequest:
    """The chief data officer grants an owner-approved request (as asked, or narrower) or
    rejects it."""
    text = _comment(approve, comment)
    if not approve and narrowing != Narrowing():
        raise BadUserInput("A rejection grants nothing: leave out fields, area and expiresAt")
    async with _unit(policy) as (session, connection):
        request = await _request(connection, request_id)
        _not_yours(actor, request, "Deciding")
        _waiting(request, RequestState.OWNER_APPROVED, "Deciding")
        state = RequestState.GRANTED if approve else RequestState.REJECTED
        values = {"decided_by": actor.subject, "decided_at": at, "decision_comment": text}
        if not approve:
            await _move(
                connection, request, RequestState.OWNER_APPROVED, state=state.value, **values
            )
            return await _request(connection, request_id)
        resource = await _resource(connection, request.resource_code)
        fields, area, until = await _narrowed(connection, resource, request, narrowing, at)
        await _move(connection, request, RequestState.OWNER_APPROVED, state=state.value, **values)
        await make_grant(
            session,
            policy,
            request,
            resource.definition.graphql_type,
            fields=fields,
            area=area,
            at=at,
            expires_at=until,
        )
        return await _request(connection, request_id)


async def revoke(
    policy: PolicyStore, actor: Actor, grant_id: int, reason: str, at: datetime
) -> StoredGrant:
    """End an active grant now; its rules go in the same transaction."""
    reason = reason.strip()
    if not reason:
        raise BadUserInput("Say why the grant is revoked in `reason`", field="reason")
    async with _unit(policy) as (session, connection):
        grant = await requests.get_grant(connection, grant_id)
        if grant is None:
            raise BadUserInput(f"There is no grant grant:{grant_id}", field="id")
        if grant.state is not GrantState.ACTIVE:
            raise BadUserInput(
                f"{grant.key} is {grant.state.name} already", id=grant.key, state=grant.state.name
            )
        if not await end_grant(
            session, policy, grant, GrantState.REVOKED, at=at, by=actor.subject, reason=reason
        ):
            raise BadUserInput(f"{grant.key} ended meanwhile", id=grant.key)
        found = await requests.get_grant(connection, grant_id)
    assert found is not None
    return found


#: The reason recorded on a grant the sweep ended.
EXPIRED = "expired: the time granted ran out"


async def expire(policy: PolicyStore, at: datetime) -> list[StoredGrant]:
    """End every active grant whose expiry has come (each in a transaction of its own); the
    grants this call ended (another process may have ended some first)."""
    async with policy.engine.connect() as connection:
        due = await requests.due(connection, at)
    ended = []
    for grant_id in due:
        async with _unit(policy) as (session, connection):
            grant = await requests.get_grant(connection, grant_id)
            if grant is None or grant.state is not GrantState.ACTIVE:
                continue
            if await end_grant(
                session, policy, grant, GrantState.EXPIRED, at=at, by=None, reason=EXPIRED
            ):
                found = await requests.get_grant(connection, grant_id)
                assert found is not None
                ended.append(found)
    return ended
