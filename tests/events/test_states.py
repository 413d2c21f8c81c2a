"""The event state machine: every (action, status) pair, and random action sequences."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.states import (
    STATES,
    STEPS,
    Action,
    InvalidTransition,
    actions_from,
    allowed_from,
    next_status,
    replay,
)
from store.models.events import EventStatus

S = EventStatus

#: The whole table, written out by hand: (action, from) → to. Every pair not here is refused.
EXPECTED: dict[tuple[Action, EventStatus | None], EventStatus] = {
    (Action.REPORT, None): S.REPORTED,
    (Action.DISPATCH, S.REPORTED): S.DISPATCHED,
    (Action.DISPATCH, S.ACCEPTED): S.DISPATCHED,
    (Action.DISPATCH, S.RETURNED): S.DISPATCHED,
    (Action.ACCEPT, S.DISPATCHED): S.HANDLING,
    (Action.RETURN, S.DISPATCHED): S.RETURNED,
    (Action.RETURN, S.HANDLING): S.RETURNED,
    (Action.RESOLVE, S.HANDLING): S.RESOLVED,
    (Action.CLOSE, S.RESOLVED): S.CLOSED,
    (Action.REOPEN, S.RESOLVED): S.DISPATCHED,
    (Action.REOPEN, S.CLOSED): S.DISPATCHED,
    **{
        (Action.SUPERVISE, status): status
        for status in (S.REPORTED, S.ACCEPTED, S.DISPATCHED, S.HANDLING, S.RETURNED)
    },
}


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("status", [None, *sorted(EventStatus)])
def test_every_action_from_every_status(action: Action, status: EventStatus | None) -> None:
    expected = EXPECTED.get((action, status))
    assert allowed_from(action, status) is (expected is not None)
    if expected is None:
        with pytest.raises(InvalidTransition) as refused:
            next_status(action, status)
        assert refused.value.action is action
        assert action.value in str(refused.value)
    else:
        assert next_status(action, status) is expected


def test_every_status_is_reachable_except_the_centres_receipt() -> None:
    reached: set[EventStatus] = set()
    frontier: list[EventStatus | None] = [None]
    while frontier:
        status = frontier.pop()
        for (_, source), target in EXPECTED.items():
            if source == status and target not in reached:
                reached.add(target)
                frontier.append(target)
    # ``accepted`` comes only from older records (the grid centre's receipt, 受理).
    assert reached == STATES - {S.ACCEPTED}


def test_a_closed_event_can_only_be_reopened() -> None:
    assert actions_from(S.CLOSED) == {Action.REOPEN}


def test_the_table_is_the_machine() -> None:
    for action, step in STEPS.items():
        for status in step.sources:
            assert (action, status) in EXPECTED


def test_the_whole_flow_replays() -> None:
    flow = [Action.REPORT, Action.DISPATCH, Action.ACCEPT, Action.RESOLVE, Action.CLOSE]
    assert replay(flow) is S.CLOSED
    with pytest.raises(InvalidTransition):
        replay([Action.REPORT, Action.CLOSE])
    with pytest.raises(InvalidTransition):
        replay([Action.REPORT, Action.REPORT])


@given(st.lists(st.sampled_from(list(Action)), max_size=40))
def test_random_sequences_never_reach_an_invalid_state(actions: list[Action]) -> None:
    """Apply the actions one by one, skipping those the machine refuses: the status is always a
    known one, the kept history replays to it, and a refused action changed nothing."""
    status: EventStatus | None = None
    history: list[Action] = []
    for action in actions:
        try:
            after = next_status(action, status)
        except InvalidTransition:
            assert not allowed_from(action, status)
            continue
        assert after in STATES
        status = after
        history.append(action)
        assert replay(history) is status
    if history:
        assert history[0] is Action.REPORT
        assert history.count(Action.REPORT) == 1
