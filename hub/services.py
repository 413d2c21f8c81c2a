"""What one app shares between its requests, built in one place and read through one accessor.

:meth:`Services.start` opens them in the app's lifespan (the engine, the token-signing keys,
the policy store and plan cache, the audit writer, …) in the order they depend on each other,
and :meth:`Services.close` shuts them down in reverse; :func:`services` is how an endpoint
reaches them. Nothing here is created at import time, and nothing outside the lifespan.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from audit.keys import AuditKeys
from audit.partitions import PartitionKeeper
from audit.witness import open_witness
from audit.writer import AuditWriter
from auth.issuers import Verifier
from auth.keys import HubKeys
from catalog.sweep import GrantSweep
from events.stream import EventFeed
from hub.execution import Executor
from hub.rate_limit import RateLimits
from hub.read_routing import ReadRouting
from hub.settings import Settings
from policies.access import Access
from policies.access_watch import AccessWatch
from policies.plan import Clock
from store.availability import DatabaseState
from store.engine import create_engine
from store.replicas import Replica, ReplicaSet, replica_name

if TYPE_CHECKING:  # hub.metrics reads the services: at run time it imports this module
    from hub.metrics import Metrics


@dataclass(slots=True)
class Services:
    """The app's settings, clock and executor, and what its lifespan opened."""

    settings: Settings
    #: The app's time: requests' "now", grants' expiry and the grant sweep's.
    clock: Clock
    metrics: Metrics
    executor: Executor
    keys: HubKeys
    verifier: Verifier
    engine: AsyncEngine
    database: DatabaseState
    #: Replaceable (tests swap in limits with a clock they move on).
    rate_limits: RateLimits
    access: Access
    audit_keys: AuditKeys
    audit_writer: AuditWriter
    grant_sweep: GrantSweep
    #: Makes the audit log's monthly partitions ahead (PostgreSQL).
    audit_partitions: PartitionKeeper
    #: The process's change detector for events, and its open streams (``events.stream``).
    event_feed: EventFeed
    #: On PostgreSQL, the listener that tells ``access`` when policies or principals changed.
    watch: AccessWatch | None = None
    #: With read replicas: where requests that only read go (:mod:`hub.read_routing`).
    reads: ReadRouting | None = None

    @classmethod
    async def start(
        cls, settings: Settings, clock: Clock, metrics: Metrics, executor: Executor
    ) -> Services:
        """Open everything, in dependency order; the audit writer and grant sweep run."""
        keys = await asyncio.to_thread(HubKeys.load_or_create, settings.key_dir)
        verifier = Verifier.from_settings(settings, keys)
        engine = create_engine(settings)
        database = DatabaseState()
        database.watch(engine)
        rate_limits = RateLimits.from_settings(settings, on_redis_error=metrics.redis_errors.inc)
        watch = None
        if engine.dialect.name == "postgresql":
            watch = AccessWatch(settings.database_url)
            await watch.start()
        access = Access.create(engine, watch, clock)
        audit_keys = await asyncio.to_thread(AuditKeys.load_or_create, settings.audit_key_dir)
        partitions = PartitionKeeper(engine)
        await partitions.start()
        writer = AuditWriter(
            engine,
            audit_keys,
            settings,
            database=database,
            observer=metrics,
            witness=open_witness(settings.audit_witness),
        )
        await writer.start()
        sweep = GrantSweep(access.store, writer, clock, settings.grant_sweep_seconds)
        sweep.start()
        reads = await start_read_routing(settings, engine, metrics)
        feed = EventFeed(engine, settings.database_url, settings.event_poll_seconds)
        await feed.start()
        return cls(
            settings=settings,
            clock=clock,
            metrics=metrics,
            executor=executor,
            keys=keys,
            verifier=verifier,
            engine=engine,
            database=database,
            rate_limits=rate_limits,
            access=access,
            audit_keys=audit_keys,
            audit_writer=writer,
            grant_sweep=sweep,
            audit_partitions=partitions,
            event_feed=feed,
            watch=watch,
            reads=reads,
        )

    async def close(self) -> None:
        """End the event streams, stop the sweep, flush and seal this process's audit chain,
        then let go of the rest."""
        await self.event_feed.close()
        await self.grant_sweep.close()
        if self.reads is not None:
            await self.reads.close()
        await self.audit_writer.close()
        await self.audit_partitions.close()
        if self.watch is not None:
            await self.watch.close()
        await self.engine.dispose()
        await self.verifier.aclose()
        await self.rate_limits.aclose()


async def start_read_routing(
    settings: Settings, primary: AsyncEngine, metrics: Metrics
) -> ReadRouting | None:
    """The replicas of ``GRIDHUB_READ_REPLICA_URLS`` (checked once now, then in the
    background) and the principals' write marks; None without replicas."""
    if not settings.read_replica_urls:
        return None
    from hub.write_marks import WriteMarks

    def changed(replica: Replica) -> None:
        metrics.replica_in_rotation.labels(replica.name).set(1 if replica.in_rotation else 0)

    members = [
        (replica_name(url), create_engine(settings.model_copy(update={"database_url": url})))
        for url in settings.read_replica_urls
    ]
    replicas = ReplicaSet.of(
        primary,
        members,
        max_lag=settings.replica_max_lag,
        every=settings.replica_check_seconds,
        timeout=settings.database_connect_timeout,
        on_change=changed,
    )
    for replica in replicas.replicas:
        changed(replica)
    marks = WriteMarks(settings.redis_url, settings.redis_prefix)
    await replicas.start()
    return ReadRouting(replicas, marks)


def services(where: HTTPConnection | ASGIApp) -> Services:
    """The services of the app a request belongs to (or of the app itself, as tests hold it);
    an error before the app's lifespan has started them."""
    app = where.app if isinstance(where, HTTPConnection) else where
    state = app.state if isinstance(app, Starlette) else None
    found = getattr(state, "services", None)
    if not isinstance(found, Services):
        raise RuntimeError("the app's services are not started (is its lifespan running?)")
    return found
