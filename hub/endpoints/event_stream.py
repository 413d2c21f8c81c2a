"""Subscriptions over Server-Sent Events: the GraphQL-over-SSE protocol, distinct connections.

A client POSTs a subscription to ``/graphql`` as it would a query, with ``Accept:
text/event-stream``; the answer is a stream that stays open. Each time events the subscription
follows change, the stream sends one ``next`` message whose data is a GraphQL response (the
subscription's selection executed on the batch of events that changed together); when the
stream ends it sends ``complete``. A comment line (``:``) goes out after
``stream_heartbeat_seconds`` of silence, so proxies keep the connection and a client that went
away is noticed.

The stream takes the one request pipeline (:mod:`hub.pipeline`): the token, the rate limit and
the document's checks (parse, validation, limits, persisted operations) run before anything is
streamed, and a refusal answers as ``/graphql`` does, with a JSON error and its status — never a
stream. Opening a stream is one audit entry, committed before the stream starts.

Then every delivery is a read of its own, done as a request would do it: the token is checked
again (an expired one ends the stream), the caller's plan is compiled afresh (a grant revoked,
a role taken away, a principal removed take effect on the next delivery — on PostgreSQL the
plan cache hears of the change through ``policies.access_watch``), the changed events are read
under that plan's row predicate, their fields decided by it, and the delivery is one audit
entry (request id ``<stream's id>.<n>``) committed before its message leaves; if it can not be
committed the stream sends ``AUDIT_UNAVAILABLE`` and ends. No connection is held between
deliveries.

The stream ends with ``complete`` when the client disconnects (its task ends at once: the
response listens for the disconnect), when the server stops (``events.stream.server_stopping``:
the last message says ``SERVER_STOPPING``; subscribe again), or when the caller is no longer
authenticated.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values, get_variable_values
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from audit.record import Outcome
from audit.writer import AuditUnavailable
from auth.principal import UNAUTHENTICATED, Identity, Unauthenticated, authenticate
from events.stream import SERVER_STOPPING, Ended, Subscriber, deliverable, scope_of
from events.stream import Scope as Followed
from hub.audit_facts import (
    DocumentFacts,
    Facts,
    answered_reads,
    document_facts,
    outcome_of,
    plan_reads,
)
from hub.endpoints.graphql import (
    GRAPHQL_RESPONSE,
    Params,
    Refused,
    _prepare,
    _read,
    graphql_endpoint,
)
from hub.execution import Prepared
from hub.pipeline import AUDIT, Call, request_error, serve
from hub.services import Services
from resolvers.context import RequestContext
from schema.events import Event
from store.errors import BadUserInput, Forbidden, GridhubError

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
NOT_A_SUBSCRIPTION = "NOT_A_SUBSCRIPTION"
COMPLETE = b"event: complete\ndata:\n\n"
HEARTBEAT = b":\n\n"


def wants_stream(request: Request) -> bool:
    """Whether the client asks for an event stream (``Accept: text/event-stream``)."""
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


async def graphql_or_stream(request: Request) -> Response:
    """``/graphql``: a stream of events for a client that accepts one, else a GraphQL answer."""
    if wants_stream(request):
        return await serve(request, _open, operation_type="subscription")
    return await graphql_endpoint(request)


def next_message(body: dict[str, Any]) -> bytes:
    """A ``next`` message: one GraphQL response as the event's data (one line: JSON without
    newlines)."""
    return b"event: next\ndata: " + orjson.dumps(body) + b"\n\n"


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


async def _open(call: Call) -> Response:
    """Check everything a query would be checked for; then the stream, or the refusal."""
    identity = await call.authenticate()
    if (refused := await call.admit(identity)) is not None:
        return refused
    facts = call.facts
    try:
        try:
            params = await _read(call, GRAPHQL_RESPONSE)
        except Refused as error:
            facts.outcome, facts.error_code = Outcome.ERROR, error.code
            return request_error(error.message, error.status, error.code, error.headers)
        prepared = await _prepare(call, identity, params, GRAPHQL_RESPONSE, stream=True)
        if isinstance(prepared, Response):
            return prepared
        if prepared.operation_type(params.operation_name) is not OperationType.SUBSCRIPTION:
            facts.outcome, facts.error_code = Outcome.ERROR, NOT_A_SUBSCRIPTION
            return request_error(
                "A stream carries a subscription: send queries and mutations with "
                "Accept: application/json",
                400,
                NOT_A_SUBSCRIPTION,
            )
        try:
            return await _subscribe(call, identity, prepared, params)
        except GridhubError as error:
            refused_here = isinstance(error, Forbidden)
            facts.outcome = Outcome.DENIED if refused_here else Outcome.ERROR
            facts.error_code = error.code
            status = 403 if refused_here else 400
            body = {"errors": [{"message": str(error), "extensions": error.extensions}]}
            return Response(orjson.dumps(body), status, media_type=GRAPHQL_RESPONSE)
    finally:
        await call.release()  # a stream holds no connection between deliveries


async def _subscribe(
    call: Call, identity: Identity, prepared: Prepared, params: Params
) -> Response:
    facts, hub = call.facts, call.services
    plan, _ = await call.plan(identity, facts.purpose)
    if call.preview_as is not None:
        raise Forbidden("A preview only reads: subscribe as yourself")
    field, arguments = _root_field(hub, prepared, params)
    followed = scope_of(field, arguments, plan.principal.department, plan.principal.areas)
    parsed = prepared.document
    assert parsed is not None
    document = prepared.memoized("audit", lambda: document_facts(hub.executor.schema, parsed))
    facts.reads, facts.grant_ids = plan_reads(plan, document)
    facts.outcome, facts.error_code = Outcome.OK, None
    # Taken now, so that nothing changed while the entry commits is missed.
    subscriber = hub.event_feed.subscribe()
    stream = _Stream(call.request, hub, identity, facts, prepared, params, document, followed)
    response = EventStreamResponse(stream.messages(subscriber), subscriber)
    # If the entry fails the response never runs: the subscriber must not stay behind.
    weakref.finalize(response, subscriber.close)
    return response


def _root_field(hub: Services, prepared: Prepared, params: Params) -> tuple[str, dict[str, Any]]:
    """The subscription's one root field (validation allows exactly one) and its arguments."""
    document = prepared.document
    operation = prepared.operation(params.operation_name)
    assert document is not None
    assert operation is not None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    node = _first_field(operation.selection_set, fragments)
    root = hub.executor.schema.subscription_type
    assert isinstance(root, GraphQLObjectType)
    assert node is not None
    coerced = get_variable_values(
        hub.executor.schema, operation.variable_definitions or (), params.variables or {}
    )
    if isinstance(coerced, list):  # variables that do not coerce
        raise BadUserInput(coerced[0].message)
    try:
        arguments = get_argument_values(root.fields[node.name.value], node, coerced)
    except GraphQLError as error:
        raise BadUserInput(error.message) from None
    return node.name.value, dict(arguments)


def _first_field(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> FieldNode | None:
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if not selection.name.value.startswith("__"):
                return selection
        elif isinstance(selection, InlineFragmentNode):
            found = _first_field(selection.selection_set, fragments)
            if found is not None:
                return found
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found = _first_field(fragment.selection_set, fragments)
                if found is not None:
                    return found
    return None


class _Stream:
    """One open subscription: what every delivery needs of the request that opened it."""

    def __init__(
        self,
        request: Request,
        hub: Services,
        identity: Identity,
        opened: Facts,
        prepared: Prepared,
        params: Params,
        document: DocumentFacts,
        followed: Followed,
    ) -> None:
        self.request, self.hub, self.identity, self.opened = request, hub, identity, opened
        self.prepared, self.params, self.document, self.followed = (
            prepared,
            params,
            document,
            followed,
        )
        self.deliveries = 0

    async def messages(self, subscriber: Subscriber) -> AsyncIterator[bytes]:
        """Heartbeats and deliveries until the stream ends; then ``complete``."""
        heartbeat = self.hub.settings.stream_heartbeat_seconds
        try:
            yield HEARTBEAT  # the stream is open: headers and a first byte leave now
            while True:
                try:
                    changed = await subscriber.changes(heartbeat)
                except Ended as ended:
                    if ended.reason == SERVER_STOPPING:
                        why = "The server is stopping: subscribe again"
                    else:
                        why = "The stream fell behind and ended: subscribe again"
                    yield next_message(_error_body(why, ended.reason))
                    break
                if not changed:
                    yield HEARTBEAT
                    continue
                message, last = await self._deliver(changed)
                if message is not None:
                    yield message
                if last:
                    break
            yield COMPLETE
        finally:
            subscriber.close()

    def _facts(self) -> Facts:
        opened = self.opened
        self.deliveries += 1
        return Facts(
            request_id=f"{opened.request_id}.{self.deliveries}",
            client_address=opened.client_address,
            started=time.perf_counter(),
            subject=opened.subject,
            principal_kind=opened.principal_kind,
            client_id=opened.client_id,
            purpose=opened.purpose,
            operation_name=opened.operation_name,
            operation_type=opened.operation_type,
            query_hash=opened.query_hash,
            variables=opened.variables,
        )

    async def _deliver(self, changed: set[int]) -> tuple[bytes | None, bool]:
        """The message of one delivery (None: nothing the caller may see changed), and
        whether it is the stream's last; its audit entry has committed when it returns."""
        hub = self.hub
        try:
            identity = await authenticate(self.request, hub.verifier)
        except Unauthenticated:
            identity = None
        facts = self._facts()
        async with hub.event_feed.delivering:  # a bounded share of the connection pool
            return await self._read_and_record(identity, facts, changed)

    async def _read_and_record(
        self, identity: Identity | None, facts: Facts, changed: set[int]
    ) -> tuple[bytes | None, bool]:
        hub = self.hub
        context: RequestContext | None = None
        try:
            connection = await hub.engine.connect()
            try:
                if identity is None or identity.subject != self.identity.subject:
                    raise Unauthenticated("the stream's token is no longer valid")
                plan = await hub.access.plan_for(identity, facts.purpose, connection)
                rows = await deliverable(connection, plan, self.followed, changed)
            except BaseException:
                await connection.close()
                raise
            if not rows:
                await connection.close()
                self.deliveries -= 1  # nothing was read: no entry
                return None, False
            facts.department_code, facts.roles = plan.principal.department, plan.roles
            context = RequestContext.build(
                hub.settings,
                hub.engine,
                plan,
                self.request,
                hub.clock(),
                identity=identity,
                connection=connection,
                policy_store=hub.access.store,
                audit_writer=hub.audit_writer,
            )
            events = [Event.from_row(row, context) for row in rows]
            body = await hub.executor.run_delivery(
                self.prepared, self.params.variables, self.params.operation_name, context, events
            )
            facts.reads = answered_reads(self.document, context.answer)
            facts.grant_ids = plan_reads(plan, self.document)[1]
            facts.person_ids = tuple(str(key) for key in sorted(context.person_ids))
            facts.row_counts = dict(context.row_counts)
            facts.outcome, facts.error_code = outcome_of(body, facts.reads)
            message, last = next_message(body), False
        except Unauthenticated:
            facts.outcome, facts.error_code = Outcome.DENIED, UNAUTHENTICATED
            message, last = next_message(_error_body("Not authenticated", UNAUTHENTICATED)), True
        except Exception as error:
            log.exception("Delivery %s failed", facts.request_id, exc_info=error)
            facts.outcome, facts.error_code = Outcome.ERROR, "INTERNAL_SERVER_ERROR"
            message = next_message(_error_body("Internal server error", "INTERNAL_SERVER_ERROR"))
            last = True
        finally:
            if context is not None:
                with anyio.CancelScope(shield=True):
                    await context.close()
        writer = hub.audit_writer
        latency = int((time.perf_counter() - facts.started) * 1_000_000)
        try:
            await writer.committed(writer.submit(facts.record(latency)))
        except Exception as error:
            if not isinstance(error, AuditUnavailable):
                log.exception("Audit entry of delivery %s not recorded", facts.request_id)
            return next_message(_error_body(str(AuditUnavailable()), AUDIT)), True
        return message, last


class EventStreamResponse(Response):
    """A ``text/event-stream`` answer that ends as soon as the client disconnects.

    It listens for ``http.disconnect`` beside the stream, and cancels the stream when it comes
    (whatever the server's ASGI version), so a gone client's task and its subscription end at
    once, not at the next message that fails to send.
    """

    media_type = EVENT_STREAM

    def __init__(self, messages: AsyncIterator[bytes], subscriber: Subscriber) -> None:
        # No body and so no Content-Length (as Starlette's StreamingResponse): not the
        # base class's constructor, which would declare an empty one.
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.messages = messages
        self.subscriber = subscriber

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as group:

                async def until_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(until_disconnect)
                try:
                    async for message in self.messages:
                        await send(
                            {"type": "http.response.body", "body": message, "more_body": True}
                        )
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                except OSError:  # the client is gone (the server could not write)
                    pass
                group.cancel_scope.cancel()
        finally:
            self.subscriber.close()
            with anyio.CancelScope(shield=True):
                await self.messages.aclose()  # type: ignore[attr-defined]
