"""Verification tasks and corrections: what grid workers check on site, and what goes back.

- ``kinds``     the four kinds of task, their reasons and how long each may take
- ``records``   the shared records a task can be about: their tables, keys and grid columns
- ``generate``  raising tasks from feed conflicts, unplaced addresses, stale records and
  departments' requests, idempotently (one open task per record and reason)
- ``recheck``   each catalogue resource's recheck period (a setting on the resource)

Nothing here reads settings or assembles services: ``hub/`` and ``cli/`` pass in connections.
"""
