"""Districts shared by the demo tests: generating one is the slow part, so each is made once."""

from __future__ import annotations

from datetime import date

import pytest

from demo import District, Profile, generate

#: A mid-month date, so "the next 30 days" and "next month" are different windows.
AS_OF = date(2025, 6, 15)


@pytest.fixture(scope="session")
def as_of() -> date:
    return AS_OF


@pytest.fixture(scope="session")
def small() -> District:
    return generate(7, Profile.small(), AS_OF)


@pytest.fixture(scope="session")
def demo() -> District:
    return generate(20250615, Profile.demo(), AS_OF)
