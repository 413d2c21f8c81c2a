"""The root ``Subscription``: events pushed as they change, over Server-Sent Events.

Each field's value, for one delivery, is the batch of events that changed together and that the
subscriber may see: the stream endpoint (``hub.endpoints.event_stream``) hears the changes
(:mod:`events.stream`), reads them under the subscriber's plan compiled afresh, and executes the
subscription's selection on that batch, as the GraphQL specification's "ExecuteSubscriptionEvent"
does with a source event. The resolvers here declare the fields; their source stream is that
endpoint's, so graphql-core never subscribes to them: a subscription sent as a plain JSON
request is refused (``EVENT_STREAM_REQUIRED``) before it runs.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from schema.events import Event
from store.errors import GridhubError


class EventStreamRequired(GridhubError):
    """A subscription sent where no stream can carry it."""

    code = "EVENT_STREAM_REQUIRED"
    MESSAGE = (
        "Subscriptions are served as Server-Sent Events: POST the subscription to /graphql "
        "with Accept: text/event-stream"
    )


async def _streamed_elsewhere() -> AsyncGenerator[list[Event], None]:
    raise EventStreamRequired(EventStreamRequired.MESSAGE)
    yield []  # an async generator, as a subscription's source is


@strawberry.type(description="Events pushed as they change (GraphQL over Server-Sent Events).")
class Subscription:
    @strawberry.subscription(
        description="Events handled by your department, each time some change (reported, "
        "dispatched, accepted, returned, resolved, closed, supervised): one message per batch "
        "that changed together, cut by your access plan as it is at that moment."
    )
    def events_dispatched_to_my_department(self) -> AsyncGenerator[list[Event], None]:
        return _streamed_elsewhere()

    @strawberry.subscription(
        description="Events in your grids (a grid worker) or your area (community and street "
        "staff), or in one grid or area under them, each time some change; cut by your access "
        "plan as it is at that moment."
    )
    def events_in_my_grid(self, grid_code: str | None = None) -> AsyncGenerator[list[Event], None]:
        return _streamed_elsewhere()
