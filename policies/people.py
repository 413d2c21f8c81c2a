"""Person principals: the grid workers, staff, officers and auditors who sign in as themselves.

An identity provider (or ``gridhub token``) vouches for who a person is; the token names their
subject. What they may see is the hub's to say, and it is said here: the department they act
for, the areas ``own`` stands for in their rules (``principal_grids``: a grid worker's grid, a
community's staff its community), and their roles (role links in the policy store). A token whose
subject has no person principal here is refused (``UNAUTHENTICATED``).

Changes take effect at the next request: on PostgreSQL the hubs hear of them (the tables notify),
on SQLite every request reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select

from policies.rules import PolicyError
from policies.store import PolicyStore
from store.models import Department, Grid
from store.models.access import Principal, PrincipalGrid, PrincipalKind

#: Longest subject and name the principals table holds.
SUBJECT_LENGTH = 128
NAME_LENGTH = 64


class PersonError(Exception):
    """A person principal can not be saved or removed as asked; the message says why."""


@dataclass(frozen=True)
class Person:
    """What the hub knows of a person: their department, name, areas and roles."""

    subject: str
    department: str
    name: str | None = None
    areas: Sequence[str] = ()
    roles: Sequence[str] = ()


async def save_person(store: PolicyStore, person: Person) -> bool:
    """Create the person, or bring an existing one to ``person``: department and name replaced,
    areas replaced by ``person.areas``, ``person.roles`` given in the department (roles already
    held are kept: ``gridhub policy unassign`` takes one away). One transaction; True if the
    person is new."""
    subject = person.subject.strip()
    if not subject or len(subject) > SUBJECT_LENGTH:
        raise PersonError(f"a subject is 1 to {SUBJECT_LENGTH} characters")
    areas = sorted(set(person.areas))
    await store.refresh()
    policy = store.list()
    known = {rule.subject for rule in policy.rules} | {link.role for link in policy.links}
    unknown_roles = [role for role in person.roles if role not in known]
    if unknown_roles:  # a typo would give a role that grants nothing, silently
        raise PersonError(
            f"no role {', '.join(map(repr, unknown_roles))} in the policy"
            " (`gridhub policy list` shows the roles)"
        )
    async with store.transaction() as session:
        if await session.get(Department, person.department) is None:
            raise PersonError(f"no department with code {person.department!r}")
        if areas:
            found = set(
                (await session.execute(select(Grid.code).where(Grid.code.in_(areas)))).scalars()
            )
            unknown = [code for code in areas if code not in found]
            if unknown:
                raise PersonError(f"no area with code {', '.join(map(repr, unknown))}")
        principal = await session.get(Principal, subject)
        if principal is not None and principal.kind != PrincipalKind.PERSON:
            raise PersonError(f"{subject!r} is a {principal.kind} (an app), not a person")
        name = (person.name or (principal.name if principal else None) or subject)[:NAME_LENGTH]
        if principal is None:
            session.add(
                Principal(
                    subject=subject,
                    kind=PrincipalKind.PERSON.value,
                    name=name,
                    department_code=person.department,
                )
            )
        else:
            principal.name, principal.department_code = name, person.department
        await session.flush()  # the principal before its areas
        await session.execute(delete(PrincipalGrid).where(PrincipalGrid.subject == subject))
        session.add_all(PrincipalGrid(subject=subject, grid_code=code) for code in areas)
        try:
            for role in person.roles:
                await store.assign(subject, role, person.department, session=session)
        except PolicyError as error:
            raise PersonError(str(error)) from None
    return principal is None


async def remove_person(store: PolicyStore, subject: str) -> bool:
    """Remove a person principal with their areas and role links; False if there is none.
    Their past accesses stay in the audit log, under their subject."""
    await store.refresh()
    async with store.transaction() as session:
        principal = await session.get(Principal, subject)
        if principal is None:
            return False
        if principal.kind != PrincipalKind.PERSON:
            raise PersonError(f"{subject!r} is a {principal.kind} (an app), not a person")
        for link in store.list().links:
            if link.member == subject:
                await store.unassign(subject, link.role, link.domain, session=session)
        await session.execute(delete(PrincipalGrid).where(PrincipalGrid.subject == subject))
        await session.delete(principal)
    return True
