"""Previews: a department's data officer reads the hub as one of their department's apps.

A data officer holds no shared data themselves, yet they request the grants and define the
views their apps work with. With the header ``X-Preview-As: <app subject>`` on ``/graphql`` or
``/views/{code}.geojson`` they see exactly what that app would: the request runs on the app's
plan (for the purpose the request declares), so a view, a grant's fields, a masked value or a
refusal look as they do to the app. Only reads: a mutation under a preview is refused. Only the
apps of the officer's own department, and only by someone with the ``data_officer`` role.

The audit entry is the officer's (its ``subject``), and names the app: its ``roles`` are the
app's plan's, with ``preview-as:<app subject>`` among them; its ``grantIds`` are the app's
grants that allowed what was read — so an auditor sees who looked, through whose eyes, and by
what right.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from auth.principal import Identity
from policies.access import Access, load_principal_and_version
from policies.plan import AccessPlan
from schema.duties import DATA_OFFICER, has_duty
from store.errors import Forbidden

#: The request header naming the app to preview as.
PREVIEW_HEADER = "x-preview-as"
#: How an entry's roles say the request was a preview, and as whom: ``preview-as:<subject>``.
PREVIEW_ROLE_PREFIX = "preview-as:"
#: The longest subject a principal has (``store.models``' column).
MAX_SUBJECT = 128


def preview_role(subject: str) -> str:
    return f"{PREVIEW_ROLE_PREFIX}{subject}"


async def preview_plan(
    access: Access,
    officer: AccessPlan,
    identity: Identity,
    app: str,
    purpose: str | None,
    connection: AsyncConnection,
) -> AccessPlan:
    """The plan of ``app`` for ``purpose``, for ``officer`` to preview with; ``Forbidden``
    unless the caller is a data officer and ``app`` an app of their own department."""
    department = officer.principal.department
    if identity.kind != "person" or not has_duty(officer, DATA_OFFICER) or department is None:
        raise Forbidden(
            f"Previewing as an app ({PREVIEW_HEADER}) needs the {DATA_OFFICER} role of the "
            "app's department"
        )
    refusal = Forbidden(
        f"There is no app {app!r} in your department ({department}) to preview as",
        department=department,
    )
    if not app or len(app) > MAX_SUBJECT or not app.isprintable():
        raise refusal
    principal, _ = await load_principal_and_version(connection, app)
    if principal is None or principal.kind != "client" or principal.department != department:
        raise refusal
    as_app = Identity(app, "client", None, identity.issuer, None)
    return await access.plan_for(as_app, purpose, connection)
