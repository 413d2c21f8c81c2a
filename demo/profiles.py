"""The sizes ``gridhub seed --profile`` knows, as a table, and which generator each size takes.

A profile is data: area counts per level and rows per table. ``baoan`` is a whole district at the
size public reports give for Bao'an (4.92 million people, 894,000 market entities, over 170,000
buildings, 4.34 million unified addresses, 21.64 million events) split the way Longgang splits
its 3,823 grids: ten streets of twelve communities of 32 grids.
"""

from __future__ import annotations

from demo.generator import Profile

#: Every named profile. ``rooms_scale`` makes Bao'an's buildings hold about 25 rooms each, so
#: that houses and rooms together give its 4.3 million addresses; events span five years.
PROFILES: dict[str, Profile] = {
    "small": Profile.small(),
    "demo": Profile.demo(),
    "baoan": Profile(
        10,
        12,
        32,
        houses=170_000,
        people=4_920_000,
        entities=894_000,
        events=21_640_000,
        event_days=1_826,
        rooms_scale=2.7,
    ),
}

#: From this many people on, a district is generated streamed, street by street in worker
#: processes, and loaded with ``COPY`` on PostgreSQL (:mod:`demo.bulk`): holding it all in memory
#: would take gigabytes. Smaller districts keep the in-memory generator, whose rows the tests and
#: the documentation's examples name.
STREAMED_FROM_PEOPLE = 100_000


def profile_named(name: str) -> Profile:
    """The profile called ``name``; a ValueError names the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(PROFILES)
        raise ValueError(f"no profile {name!r}; the profiles are {known}") from None


def is_streamed(profile: Profile) -> bool:
    """Whether ``gridhub seed`` generates and loads ``profile`` streamed."""
    return profile.people >= STREAMED_FROM_PEOPLE
