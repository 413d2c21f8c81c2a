"""Settings, read from ``GRIDHUB_*`` environment variables (and a ``.env`` file) when asked for.

Nothing reads the environment at import time: the app factory and the CLI build a
:class:`Settings` and pass it down, so tests can build their own without patching anything.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gridhub.db"


def normalise_database_url(url: str) -> str:
    """Pick the async driver for a plain ``postgresql://`` or ``sqlite://`` URL.

    Operators copy URLs from elsewhere; the hub only speaks asyncpg and aiosqlite.
    """
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class Settings(BaseSettings):
    """Everything an operator may set; each field's description is its documentation."""

    model_config = SettingsConfigDict(env_prefix="GRIDHUB_", env_file=".env", extra="ignore")

    database_url: Annotated[
        str,
        Field(description="SQLAlchemy URL; a SQLite file in the working directory by default."),
    ] = DEFAULT_DATABASE_URL
    host: Annotated[str, Field(description="Address `gridhub serve` listens on.")] = "127.0.0.1"
    port: Annotated[int, Field(description="Port `gridhub serve` listens on.")] = 8000
    default_page_size: Annotated[
        int, Field(ge=1, description="`first` when a connection is asked without it.")
    ] = 20
    max_page_size: Annotated[
        int, Field(ge=1, description="Largest `first` a connection accepts.")
    ] = 500
    graphiql: Annotated[bool, Field(description="Serve GraphiQL on GET /graphql.")] = True
    document_cache_size: Annotated[
        int, Field(ge=0, description="How many parsed and validated query documents to keep.")
    ] = 512
    max_body_bytes: Annotated[
        int, Field(ge=1024, description="Largest request body accepted, in bytes.")
    ] = 1_048_576
    timezone: Annotated[
        str, Field(description="The district's time zone: ages and 'today' are counted in it.")
    ] = "Asia/Shanghai"

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
