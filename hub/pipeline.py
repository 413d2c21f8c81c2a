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
from hub.preview import PREVIEW_HEADER, preview_plan, preview_role
from hub.rate_limit import Admission, refuse
from hub.services import Services, services
from policies.plan import AccessPlan
from resolvers.context import RequestContext
from store.availability import SERVICE_UNAVAILABLE
from store.engine import connect

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
        #: The app a data officer previews as (``X-Preview-As``), once the plan is its.
        self.preview_as: str | None = None
        #: Set by the step once it knows the request only reads (a query): its connection
        #: then needs no transaction of its own (:func:`store.engine.connect`).
        self.reads_only = False

    async def authenticate(self) -> Identity:
        """Who asks, from the bearer token (:class:`Unauthenticated` if none will do)."""
        identity = await authenticate(self.request, self.services.verifier)
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

    async def connection(self) -> AsyncConnection:
        """The request's connection (the plan and every statement of the answer use it),
        taken on first use: a request whose plan is cached and whose answer reads nothing
        takes none."""
        if self._context is not None:
            return await self._context.connection()
        if self._connection is None:
            self._connection = await connect(self.services.engine, reads_only=self.reads_only)
        return self._connection

    async def plan(
        self, identity: Identity, purpose: str | None
    ) -> tuple[AccessPlan, RequestContext]:
        """The principal's plan for ``purpose``, and the request context that carries it."""
        plan = await self.services.access.plan_for(identity, purpose, self.connection)
        self.facts.department_code = plan.principal.department
        self.facts.roles = plan.roles
        app = self.request.headers.get(PREVIEW_HEADER)
        if app is not None:  # a data officer reads as their department's app (hub.preview)
            app = app.strip()
            plan = await preview_plan(
                self.services.access, plan, identity, app, purpose, await self.connection()
            )
            self.preview_as = app
            self.facts.roles = (preview_role(app), *plan.roles)
        services = self.services
        self._context = RequestContext.build(
            services.settings,
            services.engine,
            plan,
            self.request,
            services.clock(),
            identity=identity,
            connection=self._connection,
            policy_store=services.access.store,
            audit_writer=services.audit_writer,
            reads_only=self.reads_only,
        )
        self._connection = None  # the context's now
        return plan, self._context

    def submit(self) -> None:
        """Hand the complete answer's entry to the writer (it is written while the request's
        connection goes back); :meth:`record` then waits for it."""
        self.facts.submitted = self.services.audit_writer.submit(self.facts.record(self._us()))

    async def release(self) -> None:
        """Give the request's connection back. Once the answer is complete and its entry on
        its way, a failure to do so (the database went away after the last read) is the
        pool's to clean up, not the request's: the answer stands, as its entry says."""
        try:
            if self._context is not None:
                await self._context.close()
            elif self._connection is not None:
                connection, self._connection = self._connection, None
                await connection.close()
        except Exception as error:
            if self.facts.submitted is None:
                raise
            log.warning(
                "Request %s: its connection was not released cleanly: %s",
                self.facts.request_id,
                error,
            )

    def failed(self, error: Exception) -> Response:
        """The answer to a request that raised ``error``: 503 ``SERVICE_UNAVAILABLE`` if the
        database was unreachable, else a logged 500 ``INTERNAL_SERVER_ERROR``."""
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
