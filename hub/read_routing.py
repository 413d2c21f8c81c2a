"""Which database a request reads: a read replica when it only reads, else the primary.

With ``GRIDHUB_READ_REPLICA_URLS`` set, the app's :class:`ReadRouting` holds the replicas
(:class:`store.replicas.ReplicaSet`, checked in the background) and the principals' write marks
(:class:`hub.write_marks.WriteMarks`). A request's :class:`hub.pipeline.Call` asks it for the
engine to read from only when its endpoint has said the request only reads (a GraphQL query, a
view's GeoJSON); everything else — mutations, the token endpoint, the audit writer, the grant
sweep, the policy store, access plans — uses the primary, always.

Where a read goes:

- to a replica in rotation, in turn, when the principal has no write mark;
- when the principal wrote recently, only to a replica known to have replayed past the mark,
  else to the primary (it reads its own writes);
- to the primary when no replica qualifies, or the marks can not be asked (Redis down);
- to the primary when the replica can not be reached as the request takes its connection, or
  fails under a GraphQL query (which then runs again on the primary and does not fail); the
  replica leaves the rotation until a check finds it well.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.write_marks import UNKNOWN, UnknownMark, WriteMarks
from store.replicas import Replica, ReplicaSet, primary_position

log = logging.getLogger(__name__)

PRIMARY = "primary"


@dataclass
class ReadRouting:
    """The replicas and the write marks of one app (None of them without replicas)."""

    replicas: ReplicaSet
    marks: WriteMarks

    async def replica_for(self, subject: str | None) -> Replica | None:
        """The replica a read of ``subject`` goes to, or None for the primary."""
        if subject is None:
            return self.replicas.choose()
        try:
            after = await self.marks.position(subject)
        except UnknownMark:
            return None
        return self.replicas.choose(after)

    async def wrote(self, subject: str, connection: AsyncConnection) -> None:
        """``subject`` has just written through the primary: note where the WAL is now (on the
        primary ``connection``), so its reads wait for a replica that has replayed it. If the
        position can not be read, the principal reads the primary until the mark expires."""
        try:
            position = await primary_position(connection)
        except Exception as error:
            log.warning("The WAL position after a write of %s is unknown: %s", subject, error)
            position = UNKNOWN
        await self.marks.wrote(subject, position)

    def failed(self, replica: Replica, error: BaseException) -> None:
        log.warning(
            "Read replica %s failed a request; reading the primary: %s", replica.name, error
        )
        self.replicas.failed(replica, error)

    async def close(self) -> None:
        await self.replicas.close()
        await self.marks.aclose()
