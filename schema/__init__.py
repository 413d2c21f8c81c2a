"""The GraphQL schema: Strawberry types and the root Query, Mutation and Subscription. No
database code lives here."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from schema.entities import Entity
from schema.events import Event
from schema.grids import Grid
from schema.guard import read_field
from schema.houses import House
from schema.mutation import Mutation
from schema.people import Person
from schema.query import Query
from schema.subscription import Subscription


def build_schema() -> strawberry.Schema:
    """Build the schema (cheap, but done once per app, not at import of the package)."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Grid, House, Person, Entity, Event],
        # Plain fields read attributes through the guard, so a refused value raises its error.
        config=StrawberryConfig(default_resolver=read_field),
    )
