"""The demo district: a realistic, deterministic Bao'an to develop, test and benchmark against."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from demo.generator import District, Profile, generate
from demo.loader import DistrictNotEmptyError, Progress, is_empty, load

__all__ = [
    "District",
    "DistrictNotEmptyError",
    "Profile",
    "generate",
    "is_empty",
    "load",
    "seed",
]


async def seed(
    engine: AsyncEngine,
    seed: int,
    profile: Profile,
    as_of: date,
    progress: Progress | None = None,
) -> District:
    """Generate a district and load it into an empty database; refuse a database with areas.

    Emptiness is checked before generating too, so a refusal does not cost a generation.
    """
    if not await is_empty(engine):
        raise DistrictNotEmptyError(
            "the database already holds a district; seed a fresh database instead"
        )
    district = generate(seed, profile, as_of)
    await load(engine, district, progress)
    return district
