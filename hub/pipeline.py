"""The one path every data request takes: arrive → authenticate → admit → read the request →
plan → run → record.

``/graphql``, ``/oauth/token`` and ``/views/{code}.geojson`` each hand :func:`serve` their own
step (parse and execute; the OAuth exchange; stream a view's layer), which takes a :class:`Call`
— the request, the app's :class:`~hub.services.Services` and the audit :class:`Facts` learnt so
far — and uses the steps here. Whatever the step answers or raises, :func:`serve` gives the
answer the same treatment:

- an anonymous caller (no acceptable token) gets the one 401, learning nothing else;
- a request that raised answers 503 ``SERVICE_UNAVAILABLE`` if the database was unreachable,
  else a logged 500 (:mod:`hub.faults`); a client that closed its connection while sending its
  request is recorded as its own abort, ``CLIENT_CLOSED_REQUEST`` (499);
- every answer is one audit entry, and leaves only once that entry has committed; if it can
  not be committed the answer is ``AUDIT_UNAVAILABLE`` (503) instead and no data leaves.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from audit.record import Outcome
from audit.writer import AuditUnavailable
from auth.principal import (
    UNAUTHENTICATED,
    Identity,
    Unauthenticated,
    authenticate,
    unauthenticated_response,
)
from hub.audit_facts import Facts
from hub.execution import BAD_REQUEST, INTERNAL
from hub.faults import (
    CLIENT_CLOSED_REQUEST,
    CLIENT_CLOSED_STATUS,
    failed_request,
    service_unavailable,
    unavailable,
)
from hub.faults import refuse as refuse_unavailable
from hub.preview import PREVIEW_HEADER, preview_plan, preview_role
from hub.rate_limit import Admission, refuse
from hub.read_routing import PRIMARY
from hub.services import Services, services
from policies.access import Connection
from policies.plan import AccessPlan
from resolvers.context import RequestContext
from store.availability import SERVICE_UNAVAILABLE, is_unavailable
from store.engine import connect
from store.replicas import Replica

log = logging.getLogger(__name__)

JSON = "application/json"
AUDIT = "AUDIT_UNAVAILABLE"
#: The response header naming the request's audit entry (``request_id`` in the log).
REQUEST_ID = "X-Request-Id"
PURPOSE_HEADER = "x-access-purpose"
#: A purpose code, as a read rule names one (:mod:`policies.rules`).
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None, media: str = JSON
) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media, headers=headers)


def request_error(
    message: str,
    status: int = 400,
    code: str = BAD_REQUEST,
    headers: dict[str, str] | None = None,
    media: str = JSON,
) -> Response:
    """An answer with one GraphQL-shaped error: ``{"errors": [{message, extensions.code}]}``."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return json_response(body, status, headers, media)


class BadPurpose(ValueError):
    """The ``X-Access-Purpose`` header is not one purpose code (answered with 400)."""


class Call:
    """One data request on its way through the steps, complete from its arrival.

    It owns the request's database connection — taken on first use, handed to the request
    context :meth:`plan` builds — and gives it back in :meth:`release`.

    With read replicas (:mod:`hub.read_routing`), a request its endpoint has said only reads
    (:meth:`may_read_replica`) takes that connection on a replica; its access plan is still
    read on the primary (a revoked grant must not live on in a replica's lag), on a second
    connection taken only if the plan needs a statement. A replica that fails under the
    request moves it to the primary (:meth:`fall_back`).
    """

    def __init__(
        self,
        request: Request,
        *,
        operation_name: str | None = None,
        operation_type: str | None = None,
    ) -> None:
        self.request = request
        self.services: Services = services(request)
        self.facts = Facts(
            request_id=uuid.uuid4().hex,
            client_address=request.client.host if request.client else None,
            started=time.perf_counter(),
            operation_name=operation_name,
            operation_type=operation_type,
        )
        self._connection: AsyncConnection | None = None
        self._context: RequestContext | None = None
        self._plan: AccessPlan | None = None
        #: Whether the endpoint said the request only reads: it may then read a replica, and
        #: its connection needs no transaction of its own (:func:`store.engine.connect`).
        self._reads_only = False
        #: The replica the request's connection is on (None: the primary, or not taken yet).
        self.replica: Replica | None = None
        #: A connection to the primary beside a replica's, for the access plan.
        self._primary: AsyncConnection | None = None
        self._counted = False
        #: Whether the request only reads (counted in ``gridhub_reads_total`` by where).
        self._a_read = False
        #: The app a data officer previews as (``X-Preview-As``), once the plan is its.
        self.preview_as: str | None = None
        self.identity: Identity | None = None

    async def authenticate(self) -> Identity:
        """Who asks, from the bearer token (:class:`Unauthenticated` if none will do)."""
        identity = await authenticate(self.request, self.services.verifier)
        self.identity = identity
        self.facts.subject, self.facts.principal_kind = identity.subject, identity.kind
        self.facts.client_id = identity.client_id
        return identity

    async def admit(self, identity: Identity) -> Response | None:
        """None to go on, else the refusal: over the principal's rate limit, or the database
        is known to be down. Both refuse before anything is parsed or any statement runs."""
        admission = await self.services.rate_limits.check(identity)
        return self.limited(admission) or self.unavailable()

    def limited(self, admission: Admission, *, oauth: bool = False) -> Response | None:
        """The 429 of a request its rate limit does not admit; None when admitted. ``oauth``:
        the token endpoint's, whose body is an RFC 6749 error rather than a GraphQL one."""
        return None if admission.allowed else refuse(self.facts, admission, oauth=oauth)

    def unavailable(self) -> Response | None:
        """The 503 while the database is known to be down; None when it may be tried."""
        return unavailable(self.services.database, self.facts)

    def declared_purpose(self) -> str | None:
        """The request's ``X-Access-Purpose`` (None: none declared); a malformed one is
        refused (:class:`BadPurpose`) rather than ignored, so a caller never believes it
        declared a purpose it did not."""
        values = self.request.headers.getlist(PURPOSE_HEADER)
        if not values:
            return None
        if len(values) > 1:
            raise BadPurpose("Send one X-Access-Purpose header")
        value = values[0].strip()
        if not value:
            return None
        if _PURPOSE.fullmatch(value) is None:
            raise BadPurpose(
                "X-Access-Purpose is a purpose code: lower-case letters, digits and _ "
                "(for example elderly_care)"
            )
        self.facts.purpose = value
        return value

    def may_read_replica(self) -> None:
        """The endpoint's word that this request only reads: its connection, when taken, may
        be a read replica's (:mod:`hub.read_routing`). Without replicas, nothing changes."""
        self._reads_only = self._a_read = True

    async def use_primary(self, *, reading: bool = False) -> None:
        """The request writes after all (a mutation), or must read the primary (``reading``:
        it still only reads, and counts as a read of the primary): a connection already taken
        on a replica goes back, and the next one is the primary's."""
        self._reads_only, self._a_read = False, reading
        if self.replica is not None and self._context is None:
            connection, self._connection, self.replica = self._connection, None, None
            if connection is not None:
                await _close_quietly(connection)

    async def connection(self) -> AsyncConnection:
        """The request's connection (every statement of the answer uses it)."""
        if self._context is not None:
            return await self._context.connection()
        if self._connection is None:
            self._connection = await self._connect()
        return self._connection

    async def _connect(self) -> AsyncConnection:
        """A connection where the request reads: a replica if it only reads and one qualifies
        (:meth:`hub.read_routing.ReadRouting.replica_for`), else the primary. A replica that
        can not be reached leaves the rotation, and the request takes the primary."""
        reads = self.services.reads
        if reads is not None and self._reads_only:
            subject = None if self.identity is None else self.identity.subject
            replica = await reads.replica_for(subject)
            if replica is not None:
                try:
                    connection = await connect(replica.engine, reads_only=True)
                except Exception as error:
                    if not is_unavailable(error):
                        raise
                    reads.failed(replica, error)
                else:
                    self.replica = replica
                    return connection
        return await connect(self.services.engine, reads_only=self._reads_only)

    async def _primary_connection(self) -> AsyncConnection:
        """A connection to the primary: the request's own if it is there, else one beside it."""
        if self.replica is None:
            return await self.connection()
        if self._primary is None:
            self._primary = await self.services.engine.connect()
        return self._primary

    async def plan(
        self, identity: Identity, purpose: str | None
    ) -> tuple[AccessPlan, RequestContext]:
        """The principal's plan for ``purpose``, and the request context that carries it.
        The plan is read on the primary, lazily: a kept principal and a cached plan need no
        statement. Without a replica in play the request's connection is taken on first use
        too, so a request whose answer reads nothing takes none; a request a replica may
        serve takes its (replica's) connection first, and the plan reads beside it."""
        on_primary: Connection
        if self.services.reads is None or not self._reads_only:
            on_primary = self.connection
        else:
            connection = await self.connection()
            on_primary = connection if self.replica is None else self._primary_connection
        plan = await self.services.access.plan_for(identity, purpose, on_primary)
        self.facts.department_code = plan.principal.department
        self.facts.roles = plan.roles
        app = self.request.headers.get(PREVIEW_HEADER)
        if app is not None:  # a data officer reads as their department's app (hub.preview)
            app = app.strip()
            plan = await preview_plan(
                self.services.access, plan, identity, app, purpose, await self._primary_connection()
            )
            self.preview_as = app
            self.facts.roles = (preview_role(app), *plan.roles)
        if self._primary is not None:  # the plan's alone: back to the pool at once
            primary, self._primary = self._primary, None
            await primary.close()
        self._plan = plan
        self._context = self._build_context(plan, identity, self._connection)
        self._connection = None  # the context's now
        return plan, self._context

    def _build_context(
        self, plan: AccessPlan, identity: Identity, connection: AsyncConnection | None
    ) -> RequestContext:
        """The request context on ``connection`` (None: it takes one on first use); its
        engine is the primary's, always (a mutation writes through it; caches keyed by it are
        the process's)."""
        services = self.services
        return RequestContext.build(
            services.settings,
            services.engine,
            plan,
            self.request,
            services.clock(),
            identity=identity,
            connection=connection,
            policy_store=services.access.store,
            audit_writer=services.audit_writer,
            reads_only=self._reads_only,
        )

    async def fall_back(self, error: BaseException) -> RequestContext | None:
        """If the request reads a replica and ``error`` says the replica failed: take it out
        of rotation and move the request to the primary — a new context, the same plan —
        and return that context (run the read again on it); else None (``error`` stands)."""
        reads, replica, old = self.services.reads, self.replica, self._context
        if reads is None or replica is None or old is None or self._plan is None:
            return None
        if not is_unavailable(error):
            return None
        reads.failed(replica, error)
        self.replica = None
        self._context = None
        with suppress(Exception):
            await old.close()
        connection = await connect(self.services.engine, reads_only=self._reads_only)
        assert old.identity is not None  # a request's context always has one
        self._context = self._build_context(self._plan, old.identity, connection)
        return self._context

    async def wrote(self) -> None:
        """The request wrote through the primary: from now its principal reads its own writes
        (with replicas: reads wait for a replica that has replayed this far)."""
        reads = self.services.reads
        if reads is None or self.identity is None:
            return
        await reads.wrote(self.identity.subject, await self.connection())

    def submit(self) -> None:
        """Hand the complete answer's entry to the writer (it is written while the request's
        connection goes back); :meth:`record` then waits for it."""
        self.facts.submitted = self.services.audit_writer.submit(self.facts.record(self._us()))

    async def release(self) -> None:
        """Give the request's connection back. Once the answer is complete and its entry on
        its way, a failure to do so (the database went away after the last read) is the
        pool's to clean up, not the request's: the answer stands, as its entry says."""
        self.count_read()
        primary, self._primary = self._primary, None
        try:
            try:
                if self._context is not None:
                    await self._context.close()
                elif self._connection is not None:
                    connection, self._connection = self._connection, None
                    await connection.close()
            finally:
                if primary is not None:
                    await primary.close()
        except Exception as error:
            if self.facts.submitted is None:
                raise
            log.warning(
                "Request %s: its connection was not released cleanly: %s",
                self.facts.request_id,
                error,
            )

    def count_read(self) -> None:
        """Count a request that only read by where it read (``gridhub_reads_total``), once."""
        if self._a_read and not self._counted and self.services.reads is not None:
            if self._context is not None or self._connection is not None:
                where = PRIMARY if self.replica is None else self.replica.name
                self.services.metrics.reads.labels(where).inc()
                self._counted = True

    def failed(self, error: Exception) -> Response:
        """The answer to a request that raised ``error``: 503 ``SERVICE_UNAVAILABLE`` if the
        database was unreachable, else a logged 500 ``INTERNAL_SERVER_ERROR``. A replica that
        failed where the request could not move (a view's stream already begun, a persisted
        document looked up before the plan) leaves the rotation; the primary is not marked
        down for it (every other request would be refused for a second)."""
        reads, replica = self.services.reads, self.replica
        if reads is not None and replica is not None and is_unavailable(error):
            reads.failed(replica, error)
            return refuse_unavailable(self.facts)
        response = failed_request(self.services.database, self.facts, error)
        if response is None:
            log.exception("Request %s failed", self.facts.request_id, exc_info=error)
            self.facts.outcome, self.facts.error_code = Outcome.ERROR, INTERNAL
            response = request_error("Internal server error", 500, INTERNAL)
        return response

    async def record(self, response: Response) -> Response:
        """Commit the request's audit entry, then let ``response`` go; if the entry can not be
        committed, answer ``AUDIT_UNAVAILABLE`` (503) instead: no data leaves unrecorded."""
        facts, writer = self.facts, self.services.audit_writer
        submitted = facts.submitted or writer.submit(facts.record(self._us()))
        try:
            await writer.committed(submitted)
        except Exception as error:
            if not isinstance(error, AuditUnavailable):
                log.exception("Audit entry of request %s not recorded", facts.request_id)
            if facts.error_code == SERVICE_UNAVAILABLE:  # refused already: the database is down
                return service_unavailable({REQUEST_ID: facts.request_id})
            body = {"errors": [{"message": str(AuditUnavailable()), "extensions": {"code": AUDIT}}]}
            return json_response(body, 503, headers={REQUEST_ID: facts.request_id})
        response.headers[REQUEST_ID] = facts.request_id
        return response

    def _us(self) -> int:
        """Microseconds from the request's arrival until its answer was ready."""
        return int((time.perf_counter() - self.facts.started) * 1_000_000)


async def _close_quietly(connection: AsyncConnection) -> None:
    """Give back a connection the request no longer needs (a failed replica's may not close
    cleanly: the pool cleans it up)."""
    with suppress(Exception):
        await connection.close()


Step = Callable[[Call], Awaitable[Response]]


async def serve(
    request: Request,
    step: Step,
    *,
    operation_name: str | None = None,
    operation_type: str | None = None,
) -> Response:
    """Run the endpoint's ``step`` on a new :class:`Call` and record its answer (see the module's
    docstring). If the step raised, its connection goes back before the failure is answered; if
    the entry fails, so does a connection still held for a streamed body."""
    call = Call(request, operation_name=operation_name, operation_type=operation_type)
    try:
        try:
            response = await step(call)
        except BaseException:
            await call.release()
            raise
    except Unauthenticated as error:
        log.debug("Unauthenticated request: %s", error)
        call.facts.outcome, call.facts.error_code = Outcome.DENIED, UNAUTHENTICATED
        response = unauthenticated_response()
    except ClientDisconnect:
        # The client went away while sending its request: its abort, not the hub's fault (no
        # traceback, no 500) and not a refusal; the entry says so. Nobody reads the answer.
        log.info("Request %s: the client closed the connection mid-request", call.facts.request_id)
        call.facts.outcome, call.facts.error_code = Outcome.ERROR, CLIENT_CLOSED_REQUEST
        response = request_error(
            "The client closed the connection", CLIENT_CLOSED_STATUS, CLIENT_CLOSED_REQUEST
        )
    except Exception as error:
        response = call.failed(error)
    answered = await call.record(response)
    if answered is not response:  # the entry failed: no data leaves
        await call.release()
    return answered
