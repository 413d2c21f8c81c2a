"""Where the event feed's poll starts reading (SQLite, or PostgreSQL while not listening).

A poll reads the events stamped after the newest change it has seen, and a little before it, as a
write still committing may carry an older stamp. That margin must follow the clock: a bulk load
(the demo's events share one stamp) was read whole again at every poll, every half second, for
as long as nothing newer was written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from events.stream import LOOKBACK, _read_from

#: hypothesis takes naive bounds and adds the zone itself.
MOMENTS = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
OFFSETS = st.timedeltas(min_value=timedelta(hours=-1), max_value=timedelta(days=30))


@given(newest=MOMENTS, since=OFFSETS)
def test_a_poll_reads_from_at_most_the_margin_before_the_newest_change(
    newest: datetime, since: timedelta
) -> None:
    start = _read_from(newest, now=newest + since)
    assert newest - LOOKBACK <= start <= newest


@given(newest=MOMENTS, since=OFFSETS)
def test_a_quiet_feed_reads_nothing_again(newest: datetime, since: timedelta) -> None:
    """Once the newest change is well behind the clock, a poll reads only what is newer."""
    start = _read_from(newest, now=newest + since)
    if since >= 2 * LOOKBACK:
        assert start == newest


def test_a_change_just_seen_keeps_the_whole_margin() -> None:
    newest = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert _read_from(newest, now=newest) == newest - LOOKBACK
    assert _read_from(newest, now=newest + LOOKBACK) == newest - LOOKBACK
    assert _read_from(newest, now=newest + 3 * LOOKBACK) == newest
