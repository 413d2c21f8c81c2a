"""The root ``Mutation``: the few writes the API takes, each behind a duty it checks first.

Mutations run only through POST (a GET that names one is refused before it runs), and like
every request each leaves an audit entry with its variables.
"""

from __future__ import annotations

import strawberry

from schema.addresses import TaughtAlias, teach_address_alias
from schema.catalog_changes import ResourceChange, register_resource, update_resource
from schema.event_changes import (
    accept_event,
    close_event,
    dispatch_event,
    reopen_event,
    report_event,
    resolve_event,
    return_event,
    supervise_event,
)
from schema.events import Event
from schema.grant_changes import (
    decide_access_request,
    request_access,
    review_access_request,
    revoke_grant,
)
from schema.grants import AccessRequest, Grant
from schema.tasks import (
    Correction,
    Task,
    resolve_cancel_task,
    resolve_decide_correction,
    resolve_escalate_task,
    resolve_request_verification,
    resolve_resolve_task,
)
from schema.views import ViewChange, define_view, delete_view, update_view


@strawberry.type
class Mutation:
    resolve_task: Task = strawberry.field(
        resolver=resolve_resolve_task,
        description="Record what you found on site for a task of your grids: CONFIRMED, "
        "CORRECTED (with the fields found otherwise, which you may write), NOT_FOUND, "
        "MOVED_OUT, DECEASED or VACANT.",
    )
    escalate_task: Task = strawberry.field(
        resolver=resolve_escalate_task,
        description="Hand an OPEN task of your grids on to community staff (ESCALATED), "
        "saying why; overdue tasks are escalated by the hub.",
    )
    cancel_task: Task = strawberry.field(
        resolver=resolve_cancel_task,
        description="Withdraw an OPEN or ESCALATED task (CANCELLED), saying why: who raised "
        "it, or a data officer of its department.",
    )
    request_verification: Task = strawberry.field(
        resolver=resolve_request_verification,
        description="Ask the worker of a record's grid to verify it on site (a department's "
        "apps and data officers, for records they may read); one open request per record and "
        "department.",
    )
    decide_correction: Correction = strawberry.field(
        resolver=resolve_decide_correction,
        description="Accept (the record changes, with provenance) or reject (with a reason: "
        "the task goes back to its worker) a correction routed to your department.",
    )
    teach_address_alias: TaughtAlias = strawberry.field(
        resolver=teach_address_alias,
        description="Remember that `text` names the house or room `code`: it matches exactly "
        "from now on (people who may read that house, and for a room its room code; not apps).",
    )
    register_resource: ResourceChange = strawberry.field(
        resolver=register_resource,
        description="Register a resource of the caller's department in the catalogue (data "
        "officers).",
    )
    update_resource: ResourceChange = strawberry.field(
        resolver=update_resource,
        description="Change a resource of the caller's department that was registered through "
        "the API (data officers); a new version unless nothing changed.",
    )
    request_access: AccessRequest = strawberry.field(
        resolver=request_access,
        description="Ask for fields of a catalogue resource for the caller's department (data "
        "officers): granted at once (UNCONDITIONAL), waiting for review (CONDITIONAL), or "
        "refused (NOT_SHARED).",
    )
    review_access_request: AccessRequest = strawberry.field(
        resolver=review_access_request,
        description="Approve or reject a SUBMITTED request for one of the caller's department's "
        "resources (its data officers; not their own department's requests).",
    )
    decide_access_request: AccessRequest = strawberry.field(
        resolver=decide_access_request,
        description="Grant (as asked, or narrower) or reject an OWNER_APPROVED request (the "
        "chief data officer; not their own department's requests).",
    )
    revoke_grant: Grant = strawberry.field(
        resolver=revoke_grant,
        description="End an ACTIVE grant now; its rules go at once (the chief data officer).",
    )
    define_view: ViewChange = strawberry.field(
        resolver=define_view,
        description="Define a map view of the caller's department (data officers).",
    )
    update_view: ViewChange = strawberry.field(
        resolver=update_view,
        description="Change a view of the caller's department (data officers); a new version "
        "unless nothing changed.",
    )
    delete_view: bool = strawberry.field(
        resolver=delete_view,
        description="Delete a view of the caller's department (data officers); its versions "
        "are kept.",
    )
    report_event: Event | None = strawberry.field(
        resolver=report_event,
        description="Report an incident or hazard at a point (grid workers in their grids, "
        "community and street staff in their areas, apps where their grants show events): "
        "placed in its grid and house, routed by the matter list with its deadline.",
    )
    dispatch_event: Event | None = strawberry.field(
        resolver=dispatch_event,
        description="Send a REPORTED, ACCEPTED or RETURNED event to a department (the grid "
        "centre of its street).",
    )
    accept_event: Event | None = strawberry.field(
        resolver=accept_event,
        description="Take a DISPATCHED event into HANDLING (apps of the department it was "
        "dispatched to).",
    )
    return_event: Event | None = strawberry.field(
        resolver=return_event,
        description="Hand a DISPATCHED or HANDLING event back to the dispatcher, saying why "
        "(apps of the department it was dispatched to).",
    )
    resolve_event: Event | None = strawberry.field(
        resolver=resolve_event,
        description="Report a HANDLING event RESOLVED, with the result (apps of the department "
        "it was dispatched to).",
    )
    close_event: Event | None = strawberry.field(
        resolver=close_event,
        description="Close a RESOLVED event after checking (the reporter's side: the grid's "
        "workers and staff, or the app that reported it); sets the on-time result.",
    )
    reopen_event: Event | None = strawberry.field(
        resolver=reopen_event,
        description="Send a RESOLVED or CLOSED event back to its department, saying why (the "
        "reporter's side).",
    )
    supervise_event: Event | None = strawberry.field(
        resolver=supervise_event,
        description="Supervise (督办) an open event with a note (street staff over its grid, "
        "and the district).",
    )
