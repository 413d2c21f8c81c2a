"""Trusted issuers: settings that can only name safe algorithms, JWKS URLs fetched sparingly."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from pydantic import ValidationError

from auth import issuers
from auth.issuers import UrlKeySource, Verifier
from auth.keys import HubKeys
from auth.tokens import InvalidTokenError, verify_token
from hub.settings import Settings, TrustedIssuer
from tests.auth.helpers import sign

IDP = "https://idp.example.gov.cn"
JWKS_URL = "https://idp.example.gov.cn/jwks"


class FakeProvider:
    """An identity provider's JWKS endpoint, counting how often the hub asks."""

    def __init__(self) -> None:
        self.keys = [ECKey.generate_key("P-256", parameters={"kid": "k1"}, private=True)]
        self.requests = 0
        self.failure: Exception | None = None
        self.status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.failure is not None:
            raise self.failure
        body = {"keys": [key.as_dict(private=False) for key in self.keys]}
        return httpx.Response(self.status, json=body)

    def rotate(self, kid: str) -> ECKey:
        key = ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)
        self.keys.append(key)
        return key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def source(provider: FakeProvider, clock: Clock) -> Any:
    client = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    yield UrlKeySource(JWKS_URL, client, ttl=300, clock=clock)
    await client.aclose()


async def test_a_jwks_is_fetched_once_and_cached_for_its_ttl(
    source: UrlKeySource, provider: FakeProvider, clock: Clock
) -> None:
    for _ in range(5):
        assert await source.key("k1") is not None
    assert provider.requests == 1

    clock.now += 300
    assert await source.key("k1") is not None
    assert provider.requests == 2


async def test_an_unknown_kid_fetches_again_once_then_waits_for_the_cooldown(
    source: UrlKeySource, provider: FakeProvider, clock: Clock
) -> None:
    await source.key("k1")
    clock.now += issuers.REFETCH_COOLDOWN
    provider.rotate("k2")

    assert await source.key("k2") is not None  # the provider rotated: fetched again
    assert provider.requests == 2
    for _ in range(5):
        assert await source.key("made-up") is None  # within the cooldown: no more fetches
    assert provider.requests == 2

    clock.now += issuers.REFETCH_COOLDOWN
    assert await source.key("made-up") is None
    assert provider.requests == 3


async def test_concurrent_requests_share_one_fetch(
    source: UrlKeySource, provider: FakeProvider
) -> None:
    found = await asyncio.gather(*(source.key("k1") for _ in range(20)))

    assert all(key is not None for key in found)
    assert provider.requests == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectTimeout("slow"), httpx.ConnectError("down"), None],
    ids=["timeout", "connection refused", "HTTP 500"],
)
async def test_a_provider_outage_keeps_the_keys_already_known(
    source: UrlKeySource,
    provider: FakeProvider,
    clock: Clock,
    failure: Exception | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await source.key("k1")
    provider.failure, provider.status = failure, 500
    clock.now += 300

    assert await source.key("k1") is not None
    assert provider.requests == 2
    assert "Cannot fetch the JWKS" in caplog.text


async def test_a_jwks_without_keys_yields_none(
    source: UrlKeySource, provider: FakeProvider
) -> None:
    provider.keys = []

    assert await source.key("k1") is None


async def test_a_url_issuer_verifies_tokens_through_http(
    provider: FakeProvider, keys: HubKeys, auth_settings: Settings
) -> None:
    settings = auth_settings.model_copy(
        update={
            "trusted_issuers": [
                TrustedIssuer(
                    issuer=IDP, audience="gridhub", jwks_url=JWKS_URL, algorithms=("ES256",)
                )
            ]
        }
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    verifier = Verifier.from_settings(settings, keys, http=client)
    now = int(time.time())
    claims = {"iss": IDP, "aud": "gridhub", "sub": "u-7", "exp": now + 60}
    try:
        good = sign(claims, provider.keys[0], kid="k1", typ="JWT")
        assert (await verify_token(good, verifier))["sub"] == "u-7"
        stranger = ECKey.generate_key("P-256", private=True)
        with pytest.raises(InvalidTokenError):
            await verify_token(sign(claims, stranger, kid="k1"), verifier)
    finally:
        await client.aclose()


async def test_the_verifier_closes_the_http_client_it_made(
    keys: HubKeys, auth_settings: Settings
) -> None:
    settings = auth_settings.model_copy(
        update={"trusted_issuers": [TrustedIssuer(issuer=IDP, audience="a", jwks_url=JWKS_URL)]}
    )
    verifier = Verifier.from_settings(settings, keys)
    http = verifier._http
    assert http is not None
    assert http.timeout.connect == settings.jwks_timeout

    await verifier.aclose()

    assert http.is_closed


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["none", "HS256", "HS512", "EdDSA", "RSA1_5"])
def test_an_issuer_can_not_be_trusted_with_a_symmetric_or_unsafe_algorithm(algorithm: str) -> None:
    with pytest.raises(ValidationError, match="not accepted"):
        TrustedIssuer(issuer=IDP, audience="a", jwks_file=Path("x"), algorithms=(algorithm,))


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://idp.example.gov.cn/jwks", True),
        ("http://127.0.0.1:8080/jwks", True),
        ("http://localhost/jwks", True),
        ("http://idp.example.gov.cn/jwks", False),
        ("ftp://idp.example.gov.cn/jwks", False),
        ("idp.example.gov.cn/jwks", False),
    ],
)
def test_a_jwks_url_is_https_except_on_loopback(url: str, accepted: bool) -> None:
    if accepted:
        assert TrustedIssuer(issuer=IDP, audience="a", jwks_url=url).jwks_url == url
    else:
        with pytest.raises(ValidationError, match="https"):
            TrustedIssuer(issuer=IDP, audience="a", jwks_url=url)


@pytest.mark.parametrize(
    "sources", [{}, {"jwks_url": JWKS_URL, "jwks_file": Path("jwks.json")}], ids=["none", "both"]
)
def test_an_issuer_has_exactly_one_key_source(sources: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        TrustedIssuer(issuer=IDP, audience="a", **sources)


@pytest.mark.parametrize("issuer", ["gridhub", IDP])
def test_an_issuer_name_picks_one_key_set(issuer: str) -> None:
    trusted = [
        TrustedIssuer(issuer=IDP, audience="a", jwks_url=JWKS_URL),
        TrustedIssuer(issuer=issuer, audience="a", jwks_url=JWKS_URL),
    ]

    with pytest.raises(ValidationError, match="repeat an issuer"):
        Settings(trusted_issuers=trusted, _env_file=None)  # type: ignore[call-arg]


def test_trusted_issuers_are_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "GRIDHUB_TRUSTED_ISSUERS",
        json.dumps(
            [
                {
                    "issuer": IDP,
                    "audience": "gridhub",
                    "jwks_url": JWKS_URL,
                    "algorithms": ["RS256", "ES256"],
                }
            ]
        ),
    )

    (trusted,) = Settings(_env_file=None).trusted_issuers  # type: ignore[call-arg]

    assert trusted == TrustedIssuer(
        issuer=IDP, audience="gridhub", jwks_url=JWKS_URL, algorithms=("RS256", "ES256")
    )
