"""Verification tasks and corrections: what grid workers check on site, and what goes back.

- ``kinds``     the four kinds of task, their reasons and how long each may take
- ``records``   the shared records a task can be about: their tables, keys and grid columns
- ``generate``  raising tasks from feed conflicts, unplaced addresses, stale records and
  departments' requests, idempotently (one open task per record and reason)
- ``recheck``   each catalogue resource's recheck period (a setting on the resource)
- ``resolve``   a worker's outcome: corrections within the plan's writes, findings
- ``decide``    a department accepts (the row changes) or rejects (the task goes back)
- ``lifecycle`` escalating and cancelling, by people and by the hub's own sweeps
- ``listing``   the tasks and corrections a caller lists, cut by its plan
- ``feed_out``  the accepted corrections a department's system takes back
- ``stats``     tasks counted per grid, kind and outcome for leaders

Nothing here reads settings or assembles services: ``hub/`` and ``cli/`` pass in connections.
"""
