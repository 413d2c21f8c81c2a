"""The demo's department apps get their access the way a district's would: through grants.

For each grant below, the requesting department's data officer asks (``officer-<department>``),
the owning department's data officer reviews (skipped when the owner asks, and for an
UNCONDITIONAL resource, which is granted at once), and the chief data officer (``cdo``)
decides — each step through :mod:`catalog.workflow`, with its checks, exactly as through the
API. What the apps end up seeing (``tests/permissions/test_roles.py`` pins it) is what their
hand-written rules gave them before grants existed, and the events their departments handle:

- 住建 housing: houses and rooms (room codes and residents for ``housing_management``);
  people's id, name and grid; ID numbers masked; events (tier 1–2), reporters masked — the
  matter list sends it rental-house hazards to accept, resolve or return;
- 民政 civil affairs: people, every field up to tier 3 (care tags up to tier 3: the core tags
  stay out of reach), sensitive ones for ``elderly_care`` or ``social_assistance``; events
  (tier 1–2), reporters masked — it is sent the visits to elderly people living alone;
- 公安 public security: people, tier 1–2; ID numbers for ``case_handling``;
- 应急 emergency: houses, legal entities, events (tier 1–2); event reporters masked.

The seeder writes no audit entries: like the principals and the catalogue, the grants are made
before the hub serves anyone, and the requests and grants tables record every step (who, when,
with the comment ``demo seed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from catalog import store, workflow
from catalog.requests import RequestState, StoredRequest
from demo.principals import DATA_BUREAU
from policies.store import PolicyStore

#: The demo's chief data officer.
CDO = "cdo"
COMMENT = "demo seed"


@dataclass(frozen=True, slots=True)
class DemoGrant:
    """A grant the demo seeds: fields of a resource (empty: all of them), district-wide."""

    department: str
    resource: str
    purpose_code: str
    purpose: str
    fields: tuple[str, ...] = ()
    masked: bool = False


HOUSING = ("housing_management", "出租屋安全管理、消防检查和住房保障")
ELDERLY = ("elderly_care", "养老服务、高龄津贴发放和关爱探访")
ASSISTANCE = ("social_assistance", "低保、特困等社会救助的审核与探访")
POPULATION = ("population_management", "本部门法定职责范围内的人口服务与管理")
CASES = ("case_handling", "依法办理案件中的身份核验")
EMERGENCY = ("emergency_management", "安全生产检查、隐患排查和应急处置")

DEMO_GRANTS: tuple[DemoGrant, ...] = (
    DemoGrant("housing", "FW-JC-001", *HOUSING),
    DemoGrant("housing", "FW-FJ-002", *HOUSING),
    DemoGrant("housing", "RK-JC-001", *HOUSING, fields=("id", "name", "gridCode", "grid")),
    DemoGrant("housing", "RK-SF-002", *HOUSING, fields=("idNumber",), masked=True),
    DemoGrant("housing", "SJ-JC-002", *HOUSING),
    DemoGrant("housing", "SJ-SB-003", *HOUSING, fields=("reporter",), masked=True),
    *(
        DemoGrant("civil_affairs", resource, *purpose)
        for purpose in (ELDERLY, ASSISTANCE)
        for resource in ("RK-JC-001", "RK-SF-002", "RK-LX-003", "RK-JZ-004")
        + ("MZ-GA-001", "MZ-GL-002")
    ),
    DemoGrant("civil_affairs", "SJ-JC-002", *ELDERLY),
    DemoGrant("civil_affairs", "SJ-SB-003", *ELDERLY, fields=("reporter",), masked=True),
    DemoGrant("public_security", "RK-JC-001", *POPULATION),
    DemoGrant("public_security", "RK-SF-002", *CASES, fields=("id", "idNumber")),
    DemoGrant("emergency", "FW-JC-001", *EMERGENCY),
    DemoGrant("emergency", "SC-DJ-001", *EMERGENCY),
    DemoGrant("emergency", "SC-CS-002", *EMERGENCY),
    DemoGrant("emergency", "SC-FR-003", *EMERGENCY),
    DemoGrant("emergency", "SJ-JC-002", *EMERGENCY),
    DemoGrant("emergency", "SJ-SB-003", *EMERGENCY, fields=("reporter",), masked=True),
)


def officer_of(department: str) -> workflow.Actor:
    """The demo's data officer of ``department`` (see :mod:`demo.principals`)."""
    return workflow.Actor(f"officer-{department.replace('_', '-')}", department)


async def seed_grants(
    engine: AsyncEngine,
    at: datetime,
    duration_days: int,
    grants: tuple[DemoGrant, ...] = DEMO_GRANTS,
) -> list[StoredRequest]:
    """Run the workflow for each of ``grants`` (after the principals and the catalogue are
    seeded); each runs ``duration_days`` from ``at``. The requests, all granted."""
    policy = PolicyStore(engine)
    done = []
    for grant in grants:
        fields = grant.fields
        if not fields:
            async with engine.connect() as connection:
                resource = await store.get(connection, grant.resource)
            assert resource is not None, grant.resource
            fields = resource.definition.field_names
        ask = workflow.Ask(
            resource=grant.resource,
            fields=fields,
            area=None,
            purpose_code=grant.purpose_code,
            purpose=grant.purpose,
            duration_days=duration_days,
            masked=grant.masked,
        )
        request = await workflow.request_access(
            policy, officer_of(grant.department), ask, at, duration_days
        )
        if request.state is RequestState.SUBMITTED:
            request = await workflow.review(
                policy, officer_of(request.owner), request.id, True, COMMENT, at
            )
        if request.state is RequestState.OWNER_APPROVED:
            cdo = workflow.Actor(CDO, DATA_BUREAU)
            request = await workflow.decide(
                policy, cdo, request.id, True, COMMENT, workflow.Narrowing(), at
            )
        if request.state is not RequestState.GRANTED:
            raise RuntimeError(f"the demo grant {grant} ended {request.state}")
        done.append(request)
    return done
