"""The grant sweep: every few seconds, grants past their expiry are marked ``expired`` and their
rules removed, each with an entry in the audit log.

Access ends at the expiry itself whether or not the sweep has run (plans leave out grants that
ran out, see :mod:`policies.plan`): the sweep tidies the policy and records the end. Each hub
process runs one (started in the app's lifespan); two processes racing for one grant end it
once (:func:`catalog.grants.end_grant` changes only an active grant), and only the one that
ended it writes the entry. An entry is written after the grant's transaction committed, by the
process's :class:`~audit.writer.AuditWriter`, with operation type ``system``, operation name
``expireGrant`` and the grant's id in ``grant_ids``; a sweep that fails is logged and retried on
the next round.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from audit.record import AuditRecord, Outcome
from audit.writer import AuditWriter
from catalog.requests import StoredGrant
from catalog.workflow import expire
from policies.plan import Clock
from policies.store import PolicyStore
from store.availability import is_unavailable

log = logging.getLogger(__name__)
#: The audit entry's operation name for an expiry.
EXPIRE_GRANT = "expireGrant"
SYSTEM = "system"


def expiry_record(grant: StoredGrant) -> AuditRecord:
    """The audit entry of a grant the sweep ended."""
    return AuditRecord(
        request_id=uuid.uuid4().hex,
        outcome=Outcome.OK.value,
        latency_us=0,
        department_code=grant.department,
        operation_name=EXPIRE_GRANT,
        operation_type=SYSTEM,
        variables={
            "grant": grant.key,
            "resource": grant.resource_code,
            "expiresAt": grant.expires_at.isoformat(),
        },
        grant_ids=(grant.key,),
    )


class GrantSweep:
    """Runs :func:`sweep` every ``interval`` seconds until closed."""

    def __init__(
        self, store: PolicyStore, writer: AuditWriter | None, clock: Clock, interval: float
    ) -> None:
        self._store = store
        self._writer = writer
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def sweep(self) -> list[StoredGrant]:
        """One round: end what is due, record each end; the grants ended."""
        ended = await expire(self._store, self._clock())
        for grant in ended:
            log.info("Grant %s expired at %s", grant.key, grant.expires_at.isoformat())
            if self._writer is not None:
                await self._writer.record(expiry_record(grant))
        return ended

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as error:
                if is_unavailable(error):  # an outage, logged where it is noticed: one line
                    log.warning(
                        "The grant sweep could not reach the database; it runs again in %ss",
                        self._interval,
                    )
                else:
                    log.exception("The grant sweep failed; it runs again in %ss", self._interval)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the grant sweep is already started")
        self._task = asyncio.create_task(self._run(), name="grant-sweep")

    async def close(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
