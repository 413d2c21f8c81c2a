"""The event workflow (事件): placement, routing by the matter list, the state machine, history.

An event is reported at a point; the hub places it (point → grid, house) and routes it by the
matter list (事项清单) to the handling department with the matter's deadline, or leaves it at the
street's grid centre for manual dispatch. Departments accept, return, resolve; the reporter's side
closes or reopens; street staff supervise (督办). :mod:`events.states` says, in one place, which
action may happen from which state and who owns it; :mod:`events.actions` carries the actions out,
each in one transaction that also writes the event's history. :mod:`events.stream` is the push
channel that follows events as they change, :mod:`events.stats` the leaders' statistics.
"""
