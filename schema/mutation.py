"""The root ``Mutation``: the few writes the API takes, each behind a duty it checks first.

Mutations run only through POST (a GET that names one is refused before it runs), and like
every request each leaves an audit entry with its variables.
"""

from __future__ import annotations

import strawberry

from schema.catalog_changes import ResourceChange, register_resource, update_resource


@strawberry.type
class Mutation:
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
