"""The event workflow: placement, routing by the matter list, state machine, history; the push
channel that follows events as they change (:mod:`events.stream`) and the leaders' statistics
(:mod:`events.stats`)."""
