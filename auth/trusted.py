"""An external OpenID provider the hub trusts to identify people, as an operator configures it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The JWS algorithms a trusted issuer may be configured with: asymmetric only, so a verifier
#: never holds a secret that could also sign, and "none" or HMAC can never be accepted.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "Ed25519"}
)


class TrustedIssuer(BaseModel):
    """An external OpenID provider whose tokens identify people.

    Exactly one of ``jwks_url`` and ``jwks_file`` says where its public keys are.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: Annotated[str, Field(min_length=1, description="The exact `iss` of its tokens.")]
    audience: Annotated[
        str, Field(min_length=1, description="The `aud` its tokens must name for the hub.")
    ]
    jwks_url: Annotated[
        str | None, Field(description="Where its JWKS is published (https in production).")
    ] = None
    jwks_file: Annotated[Path | None, Field(description="A JWKS file kept on disk.")] = None
    algorithms: Annotated[
        tuple[str, ...],
        Field(min_length=1, description="The JWS algorithms accepted from it (asymmetric only)."),
    ] = ("RS256",)
    subject_prefix: Annotated[
        str,
        Field(
            max_length=32,
            description="Put before its `sub` to form the principal's subject, so two "
            "providers' subjects can not collide.",
        ),
    ] = ""

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = sorted(set(value) - ASYMMETRIC_ALGORITHMS)
        if refused:
            raise ValueError(
                f"not accepted: {', '.join(refused)}; use any of {sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        return value

    @field_validator("jwks_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        """Keys fetched in clear could be swapped in transit; plain http only on loopback."""
        if value is None:
            return value
        url = urlsplit(value)
        loopback = url.hostname in ("localhost", "127.0.0.1", "::1")
        if url.scheme != "https" and not (url.scheme == "http" and loopback):
            raise ValueError("jwks_url must be https (http only for a loopback address)")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("give exactly one of jwks_url and jwks_file")
        return self
