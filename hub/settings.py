"""Settings, read from ``GRIDHUB_*`` environment variables (and a ``.env`` file) when asked for.

Nothing reads the environment at import time: the app factory and the CLI build a
:class:`Settings` and pass it down, so tests can build their own without patching anything.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from audit.witness import open_witness
from auth.trusted import ASYMMETRIC_ALGORITHMS, TrustedIssuer
from store.engine import DEFAULT_DATABASE_URL, normalise_database_url

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_DATABASE_URL",
    "RateLimit",
    "Settings",
    "TrustedIssuer",
    "normalise_database_url",
]


class RateLimit(BaseModel):
    """A token bucket's budget: ``rate`` requests a second sustained, ``burst`` at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: Annotated[float, Field(gt=0, description="Tokens added per second.")]
    burst: Annotated[int, Field(ge=1, description="Most tokens the bucket holds.")]


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
    compiled_reads: Annotated[
        bool,
        Field(
            description="Answer reads of the shared data (grids, houses, people) with one SQL "
            "statement per root field that builds the JSON in the database; off: every field "
            "is resolved one by one. The answers are the same either way."
        ),
    ] = True
    max_body_bytes: Annotated[
        int, Field(ge=1024, description="Largest request body accepted, in bytes.")
    ] = 1_048_576
    feed_max_bytes: Annotated[
        int,
        Field(ge=1024, description="Largest export a department system may send to a feed."),
    ] = 268_435_456
    body_timeout: Annotated[
        float,
        Field(gt=0, description="Seconds a request's whole body may take to arrive (else 408)."),
    ] = 30.0
    max_header_bytes: Annotated[
        int,
        Field(
            ge=4096,
            description="Largest request line and headers accepted, in bytes (else 431).",
        ),
    ] = 32_768
    header_timeout: Annotated[
        float,
        Field(
            gt=0,
            description="Seconds a connection may take to send a request's line and headers "
            "(from its first byte, or from the connection's opening).",
        ),
    ] = 10.0
    timezone: Annotated[
        str, Field(description="The district's time zone: ages and 'today' are counted in it.")
    ] = "Asia/Shanghai"
    address_match_threshold: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Confidence at or above which the address matcher accepts its best "
            "candidate by itself; below it, candidates are only offered (docs/addresses.md).",
        ),
    ] = 0.9

    key_dir: Annotated[
        Path,
        Field(
            description="Where the hub keeps its token-signing keys (created on first start, "
            "files readable by the owner only); relative to the working directory."
        ),
    ] = Path("var/keys")
    issuer: Annotated[
        str, Field(min_length=1, description="The `iss` of the tokens the hub signs.")
    ] = "gridhub"
    audience: Annotated[
        str,
        Field(min_length=1, description="The `aud` of the tokens the hub signs and accepts."),
    ] = "gridhub"
    token_ttl: Annotated[
        int,
        Field(ge=60, le=86_400, description="Lifetime of a client-credentials token, seconds."),
    ] = 3600
    clock_skew: Annotated[
        int,
        Field(ge=0, le=300, description="Seconds of clock difference allowed on exp/nbf/iat."),
    ] = 30
    trusted_issuers: Annotated[
        list[TrustedIssuer],
        Field(
            description="External OpenID providers whose tokens identify people "
            "(GRIDHUB_TRUSTED_ISSUERS as a JSON list)."
        ),
    ] = []
    jwks_cache_ttl: Annotated[
        int, Field(ge=0, description="Seconds a JWKS fetched from a URL is used before refetching.")
    ] = 300
    jwks_timeout: Annotated[
        float, Field(gt=0, le=30, description="Seconds to wait for an issuer's JWKS URL.")
    ] = 3.0

    audit_key_dir: Annotated[
        Path,
        Field(
            description="Where the hub keeps its audit checkpoint-signing (Ed25519) keys, apart "
            "from the token keys; relative to the working directory."
        ),
    ] = Path("var/audit-keys")
    audit_checkpoint_entries: Annotated[
        int,
        Field(ge=1, description="A signed checkpoint is written after this many audit entries."),
    ] = 1000
    audit_checkpoint_seconds: Annotated[
        float,
        Field(gt=0, description="...or after this many seconds with unsigned entries, if sooner."),
    ] = 60.0
    catalog_exact_statistics_rows: Annotated[
        int,
        Field(
            ge=0,
            description="The catalogue's live statistics count a table exactly up to this many "
            "rows (the planner's estimate); larger PostgreSQL tables are estimated, and say so.",
        ),
    ] = 200_000
    audit_witness: Annotated[
        str | None,
        Field(
            description="Where signed checkpoints are also appended, outside the database: a "
            "file URL such as file:///mnt/witness/audit.jsonl (on another volume); verify "
            "compares the database with it. Empty: no witness."
        ),
    ] = None

    grant_max_days: Annotated[
        int,
        Field(
            ge=1,
            description="The longest an access request may ask for, in days: no grant runs longer.",
        ),
    ] = 365
    grant_sweep_seconds: Annotated[
        float,
        Field(
            gt=0,
            description="How often each hub process marks the grants past their expiry "
            "`expired` and removes their rules, in seconds.",
        ),
    ] = 60.0
    event_poll_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=60,
            description="How often each hub process reads which events changed, in seconds, "
            "where it hears no notifications (SQLite; PostgreSQL while its listener is down).",
        ),
    ] = 0.5
    stream_heartbeat_seconds: Annotated[
        float,
        Field(
            gt=0,
            le=300,
            description="Seconds of silence after which an event stream sends a heartbeat "
            "comment (proxies close idle connections; a gone client shows when it fails).",
        ),
    ] = 15.0

    # Operations: rate limits, processes, timeouts, metrics (docs/operators.md).
    rate_limits: Annotated[
        bool, Field(description="Refuse requests over a principal's budget with HTTP 429.")
    ] = True
    rate_limit_client_rate: Annotated[
        float, Field(gt=0, description="Requests per second a department app's client sustains.")
    ] = 50.0
    rate_limit_client_burst: Annotated[
        int, Field(ge=1, description="Requests a department app's client may send at once.")
    ] = 500
    rate_limit_person_rate: Annotated[
        float,
        Field(
            gt=0,
            description="Requests per second a person (grid worker, staff, "
            "officer, auditor) sustains.",
        ),
    ] = 10.0
    rate_limit_person_burst: Annotated[
        int, Field(ge=1, description="Requests a person may send at once.")
    ] = 100
    rate_limit_principals: Annotated[
        dict[str, RateLimit],
        Field(
            description="Budgets for single principals, by subject, over their kind's "
            '(GRIDHUB_RATE_LIMIT_PRINCIPALS as JSON: {"auditor-1": {"rate": 2, "burst": 20}}).'
        ),
    ] = {}
    rate_limit_token_rate: Annotated[
        float, Field(gt=0, description="Token requests per second per client id tried.")
    ] = 0.5
    rate_limit_token_burst: Annotated[
        int, Field(ge=1, description="Token requests at once per client id tried.")
    ] = 20
    rate_limit_address_rate: Annotated[
        float, Field(gt=0, description="Token requests per second per client address.")
    ] = 2.0
    rate_limit_address_burst: Annotated[
        int, Field(ge=1, description="Token requests at once per client address.")
    ] = 60
    rate_limit_buckets: Annotated[
        int, Field(ge=1, description="Most buckets a process keeps in memory.")
    ] = 100_000
    redis_url: Annotated[
        str | None,
        Field(description="Redis shared by every hub process for the rate limits (redis://…)."),
    ] = None
    redis_prefix: Annotated[str, Field(description="Prefix of the hub's keys in Redis.")] = (
        "gridhub:ratelimit:"
    )
    workers: Annotated[
        int, Field(ge=1, le=64, description="Worker processes `gridhub serve` runs.")
    ] = 1
    shutdown_timeout: Annotated[
        float,
        Field(gt=0, description="Seconds a stopping process waits for requests in flight."),
    ] = 30.0
    read_replica_urls: Annotated[
        list[str],
        NoDecode,
        Field(
            description="PostgreSQL streaming replicas of `database_url` that answer requests "
            "which only read (GraphQL queries, a view's GeoJSON), comma-separated URLs; "
            "everything that writes goes to the primary. Empty: every request uses the primary "
            "(docs/scaling.md)."
        ),
    ] = []
    replica_max_lag: Annotated[
        float,
        Field(
            gt=0,
            description="Seconds of the primary's writes a replica may not yet have replayed "
            "and still answer reads; a replica further behind (or unreachable) leaves the "
            "rotation until it catches up.",
        ),
    ] = 5.0
    replica_check_seconds: Annotated[
        float,
        Field(gt=0, description="Seconds between checks of the read replicas' replay position."),
    ] = 1.0
    database_connect_timeout: Annotated[
        float, Field(gt=0, description="Seconds to wait for a database connection.")
    ] = 5.0
    database_statement_timeout: Annotated[
        float, Field(gt=0, description="Seconds a database statement may take.")
    ] = 30.0
    metrics_token: Annotated[
        str | None,
        Field(
            description="Bearer token that opens /metrics to any address; without it, "
            "/metrics answers loopback clients only."
        ),
    ] = None
    view_max_features: Annotated[
        int,
        Field(
            ge=1,
            description="Most features a map view's layer holds in GraphQL (`mapView`); more "
            "and it is `truncated`. `/views/{code}.geojson` streams a layer whole.",
        ),
    ] = 5000

    mode: Annotated[
        Literal["production", "development"],
        Field(
            description="production: no GraphiQL, no introspection but for the "
            "`introspection_roles`, error messages that name nothing the caller did not write; "
            "development (what `gridhub demo` runs): GraphiQL, introspection, suggestions."
        ),
    ] = "production"
    introspection_roles: Annotated[
        list[str],
        NoDecode,
        Field(description="Roles that may introspect the schema in production mode."),
    ] = []
    max_depth: Annotated[
        int, Field(ge=1, le=64, description="Deepest nesting of fields a query may have.")
    ] = 10
    max_aliases: Annotated[int, Field(ge=0, description="Most aliases in one query.")] = 15
    max_directives: Annotated[int, Field(ge=0, description="Most directives in one query.")] = 50
    max_tokens: Annotated[
        int, Field(ge=100, description="Most lexical tokens in one query document.")
    ] = 1000
    max_query_length: Annotated[
        int, Field(ge=1000, description="Longest query document, in characters.")
    ] = 10_000
    max_root_fields: Annotated[
        int, Field(ge=1, description="Most root fields in one operation.")
    ] = 10
    max_cost: Annotated[
        int,
        Field(
            ge=1,
            description="Most objects a query may return by its estimate (`first` of each "
            "connection, 10 for other lists).",
        ),
    ] = 10_000
    persisted_only: Annotated[
        list[str],
        NoDecode,
        Field(
            description="Subjects of the apps that may run only their persisted operations "
            "(`gridhub operations`)."
        ),
    ] = []
    cors_origins: Annotated[
        list[str],
        NoDecode,
        Field(description="Browser origins allowed to call the API (CORS); none by default."),
    ] = []
    trusted_proxies: Annotated[
        list[str],
        NoDecode,
        Field(
            description="Addresses or networks (CIDR) of the reverse proxies whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed, comma-separated; none by "
            "default. From any other peer the headers are ignored: the peer's address is the "
            "client's, for the rate limits and the audit log."
        ),
    ] = []
    cors_max_age: Annotated[
        int, Field(ge=0, description="Seconds a browser may keep a CORS preflight's answer.")
    ] = 600

    @field_validator(
        "introspection_roles",
        "persisted_only",
        "cors_origins",
        "trusted_proxies",
        "read_replica_urls",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``a,b`` (or a JSON list) in the environment."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """Each an IP address or network: a host name or a typo would silently trust nobody
        (or, written ``*``, everybody)."""
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or network (CIDR)"
                ) from None
        return value

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @field_validator("audit_witness")
    @classmethod
    def _witness(cls, value: str | None) -> str | None:
        """A witness the hub can use, or none: refused at start, not at the first checkpoint."""
        if not value:
            return None
        open_witness(value)  # WitnessError (a ValueError) names what is wrong
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("read_replica_urls")
    @classmethod
    def _replica_drivers(cls, value: list[str]) -> list[str]:
        urls = [normalise_database_url(url) for url in value]
        for url in urls:
            if not url.startswith("postgresql"):
                raise ValueError("read_replica_urls: each replica is a postgresql:// URL")
        return urls

    @model_validator(mode="after")
    def _replicas_of_postgresql(self) -> Self:
        """Replicas are PostgreSQL streaming replicas of a PostgreSQL primary."""
        if self.read_replica_urls and not self.database_url.startswith("postgresql"):
            raise ValueError("read_replica_urls need a PostgreSQL database_url (the primary)")
        return self

    @model_validator(mode="after")
    def _issuers_distinct(self) -> Self:
        """Each `iss` must pick one set of keys: the hub's own, or one provider's."""
        names = [self.issuer, *(trusted.issuer for trusted in self.trusted_issuers)]
        if len(set(names)) != len(names):
            raise ValueError("trusted_issuers repeat an issuer, or name the hub's own `issuer`")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
