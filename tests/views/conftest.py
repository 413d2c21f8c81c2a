"""The session's database is shared: every view a test defines is gone after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.views.helpers import forget_test_views


@pytest.fixture(autouse=True)
async def _forget_test_views(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await forget_test_views(engine)
