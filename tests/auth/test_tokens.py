"""Tokens the hub signs verify; every forgery, replay and misconfiguration attack does not."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OctKey, RSAKey

from auth.issuers import Verifier
from auth.keys import HubKeys, rotate
from auth.principal import identity_from_claims
from auth.tokens import InvalidTokenError, issue_token, verify_token
from hub.settings import Settings, TrustedIssuer
from tests.auth.helpers import REASONS, attacks, b64, hmac_token, hub_claims, sign, unb64


async def refused(token: str, verifier: Verifier, **kwargs: int) -> str:
    """The server-side reason ``token`` is refused (the test fails if it is accepted)."""
    with pytest.raises(InvalidTokenError) as caught:
        await verify_token(token, verifier, **kwargs)
    return str(caught.value)


async def test_a_person_token_verifies_with_every_claim_the_hub_promises(
    keys: HubKeys, auth_settings: Settings, verifier: Verifier
) -> None:
    token = issue_token(keys, auth_settings, "grid-worker-7", "person", ttl=900)

    claims = await verify_token(token, verifier)

    assert claims["iss"] == auth_settings.issuer
    assert claims["aud"] == auth_settings.audience
    assert claims["sub"] == "grid-worker-7"
    assert claims["kind"] == "person"
    assert "client_id" not in claims
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]
    assert abs(claims["iat"] - time.time()) < 60
    assert json.loads(unb64(token.split(".")[0])) == {
        "typ": "at+jwt",
        "alg": "ES256",
        "kid": keys.kid,
    }


async def test_a_client_token_names_its_client_and_each_token_is_unique(
    keys: HubKeys, auth_settings: Settings, verifier: Verifier
) -> None:
    first = issue_token(keys, auth_settings, "housing-app", "client", client_id="gh_abc")
    second = issue_token(keys, auth_settings, "housing-app", "client", client_id="gh_abc")

    claims = await verify_token(first, verifier)

    assert claims["kind"] == "client"
    assert claims["client_id"] == "gh_abc"
    assert claims["exp"] - claims["iat"] == auth_settings.token_ttl
    assert claims["jti"] != (await verify_token(second, verifier))["jti"]


@pytest.mark.parametrize(
    ("kind", "client_id", "subject", "ttl"),
    [
        ("admin", None, "someone", 60),
        ("client", None, "housing-app", 60),
        ("person", "gh_abc", "someone", 60),
        ("person", None, "", 60),
        ("person", None, "x" * 129, 60),
        ("person", None, "someone", 0),
    ],
)
def test_issue_token_refuses_a_token_it_would_later_refuse(
    keys: HubKeys,
    auth_settings: Settings,
    kind: str,
    client_id: str | None,
    subject: str,
    ttl: int,
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        issue_token(keys, auth_settings, subject, kind, client_id=client_id, ttl=ttl)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def attack_tokens(keys: HubKeys, auth_settings: Settings) -> dict[str, str]:
    tokens = attacks(keys, auth_settings)
    assert set(tokens) == set(REASONS), "every attack says why it must fail"
    return tokens


@pytest.mark.parametrize("attack", sorted(REASONS))
async def test_an_attack_is_refused_for_its_own_reason(
    attack: str, attack_tokens: dict[str, str], verifier: Verifier
) -> None:
    reason = await refused(attack_tokens[attack], verifier)

    assert REASONS[attack] in reason


async def test_the_audience_may_be_a_list_that_names_the_hub(
    keys: HubKeys, auth_settings: Settings, verifier: Verifier
) -> None:
    listed = hub_claims(auth_settings, aud=["another-service", auth_settings.audience])
    other = hub_claims(auth_settings, aud=["another-service"])

    assert (await verify_token(sign(listed, keys.signing_key, kid=keys.kid), verifier))["aud"]
    assert "aud" in await refused(sign(other, keys.signing_key, kid=keys.kid), verifier)


async def test_clock_skew_is_allowed_up_to_the_setting_and_no_further(
    keys: HubKeys, auth_settings: Settings, verifier: Verifier
) -> None:
    issued = int(time.time()) - 600
    token = issue_token(keys, auth_settings, "someone", "person", ttl=600, now=issued)
    skew = auth_settings.clock_skew

    assert await verify_token(token, verifier, now=issued + 600 + skew - 1)
    assert "Expired" in await refused(token, verifier, now=issued + 600 + skew)


# -- any single change of a signed token is refused ------------------------------------------

VALID: dict[str, str] = {}


def _valid_token(keys: HubKeys, settings: Settings) -> str:
    if keys.kid not in VALID:
        VALID[keys.kid] = issue_token(keys, settings, "grid-worker-1", "person", ttl=3600)
    return VALID[keys.kid]


def _verify_sync(token: str, verifier: Verifier) -> None:
    asyncio.run(verify_token(token, verifier))


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segment=st.sampled_from([1, 2]), position=st.integers(0, 10_000), value=st.integers(0, 255))
def test_any_single_byte_change_of_payload_or_signature_is_refused(
    keys: HubKeys,
    auth_settings: Settings,
    verifier: Verifier,
    segment: int,
    position: int,
    value: int,
) -> None:
    parts = _valid_token(keys, auth_settings).split(".")
    data = bytearray(unb64(parts[segment]))
    position %= len(data)
    assume(data[position] != value)
    data[position] = value
    parts[segment] = b64(bytes(data))

    with pytest.raises(InvalidTokenError):
        _verify_sync(".".join(parts), verifier)


@hypothesis_settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.integers(0, 10_000),
    character=st.characters(codec="ascii", exclude_characters="\r\n"),
)
def test_any_single_character_change_of_the_token_text_is_refused(
    keys: HubKeys,
    auth_settings: Settings,
    verifier: Verifier,
    position: int,
    character: str,
) -> None:
    token = _valid_token(keys, auth_settings)
    position %= len(token)
    assume(token[position] != character)
    changed = token[:position] + character + token[position + 1 :]

    with pytest.raises(InvalidTokenError):
        _verify_sync(changed, verifier)


# -- keys: survive a restart, rotate without breaking live tokens -----------------------------


async def test_after_a_rotation_old_tokens_verify_until_they_expire(
    key_dir: Path, auth_settings: Settings
) -> None:
    settings = auth_settings.model_copy(update={"key_dir": key_dir})
    keys = HubKeys.load_or_create(key_dir)
    verifier = Verifier.from_settings(settings, keys)
    issued = int(time.time())
    old = issue_token(keys, settings, "someone", "person", ttl=600, now=issued)
    old_kid = keys.kid

    new_kid = rotate(key_dir)
    new = issue_token(keys, settings, "someone", "person")  # refreshes: signs with the new key

    assert new_kid != old_kid
    assert keys.kid == new_kid
    assert json.loads(unb64(new.split(".")[0]))["kid"] == new_kid
    assert [key["kid"] for key in keys.jwks()["keys"]] == [new_kid, old_kid]
    assert (await verify_token(old, verifier))["sub"] == "someone"
    assert (await verify_token(new, verifier))["sub"] == "someone"
    restarted = Verifier.from_settings(settings, HubKeys.load_or_create(key_dir))
    assert await verify_token(old, restarted)
    expiry = issued + 600 + settings.clock_skew
    assert "Expired" in await refused(old, verifier, now=expiry)


async def test_a_process_that_has_not_seen_the_rotation_accepts_the_new_key(
    key_dir: Path, auth_settings: Settings
) -> None:
    settings = auth_settings.model_copy(update={"key_dir": key_dir})
    stale = HubKeys.load_or_create(key_dir)
    verifier = Verifier.from_settings(settings, stale)
    old_kid = stale.kid

    rotate(key_dir)
    token = issue_token(HubKeys.load_or_create(key_dir), settings, "someone", "person")

    assert await verify_token(token, verifier)
    assert stale.kid != old_kid


async def test_a_token_of_a_dropped_retired_key_is_refused(
    key_dir: Path, auth_settings: Settings
) -> None:
    settings = auth_settings.model_copy(update={"key_dir": key_dir})
    keys = HubKeys.load_or_create(key_dir)
    verifier = Verifier.from_settings(settings, keys)
    old = issue_token(keys, settings, "someone", "person")
    first = keys.kid

    second = rotate(key_dir)
    third = rotate(key_dir, keep_retired=timedelta(0))
    keys.refresh()

    assert [key["kid"] for key in keys.jwks()["keys"]] == [third, second]
    assert first not in {second, third}
    assert "unknown kid" in await refused(old, verifier)


# -- external OpenID providers ----------------------------------------------------------------

IDP = "https://idp.example.gov.cn"
RSA_IDP = "https://rsa-idp.example.gov.cn"


class ProviderKeys(NamedTuple):
    """A provider's keys: EC and RSA published, and an oct key smuggled into its JWKS."""

    ec: ECKey
    rsa: RSAKey
    oct: OctKey


@pytest.fixture(scope="module")
def provider_keys() -> ProviderKeys:
    return ProviderKeys(
        ECKey.generate_key("P-256", parameters={"kid": "idp-ec-1"}, private=True),
        RSAKey.generate_key(2048, parameters={"kid": "idp-rsa-1"}, private=True),
        OctKey.generate_key(256, parameters={"kid": "idp-oct-1"}, private=True),
    )


@pytest.fixture
def external(
    tmp_path: Path, provider_keys: ProviderKeys, keys: HubKeys, auth_settings: Settings
) -> tuple[Verifier, Path]:
    """A verifier trusting two providers whose JWKS files hold an EC, an RSA and an oct key."""
    jwks_file = tmp_path / "idp-jwks.json"
    entries: list[Any] = [
        provider_keys.ec.as_dict(private=False),
        provider_keys.rsa.as_dict(private=False),
        provider_keys.oct.as_dict(private=True),  # a symmetric key: must be ignored
    ]
    jwks = {"keys": entries}
    jwks_file.write_text(json.dumps(jwks))
    settings = Settings(
        database_url=auth_settings.database_url,
        key_dir=auth_settings.key_dir,
        trusted_issuers=[
            TrustedIssuer(
                issuer=IDP,
                audience="gridhub-api",
                jwks_file=jwks_file,
                algorithms=("ES256",),
                subject_prefix="idp:",
            ),
            TrustedIssuer(issuer=RSA_IDP, audience="gridhub-api", jwks_file=jwks_file),
        ],
        _env_file=None,  # type: ignore[call-arg]
    )
    return Verifier.from_settings(settings, keys), jwks_file


def idp_claims(issuer: str = IDP, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims = {"iss": issuer, "aud": "gridhub-api", "sub": "u-1001", "iat": now, "exp": now + 300}
    claims.update(changes)
    return claims


async def test_a_providers_token_from_its_jwks_file_is_accepted(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys
) -> None:
    verifier, _ = external
    token = sign(idp_claims(), provider_keys.ec, kid="idp-ec-1", typ="JWT")

    claims = await verify_token(token, verifier)

    identity = identity_from_claims(claims, verifier)
    assert (identity.subject, identity.kind, identity.issuer) == ("idp:u-1001", "person", IDP)


async def test_an_rs256_token_from_an_es256_only_provider_is_refused(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys
) -> None:
    verifier, _ = external
    rsa = provider_keys.rsa

    reason = await refused(sign(idp_claims(), rsa, alg="RS256", kid="idp-rsa-1"), verifier)
    accepted = await verify_token(
        sign(idp_claims(RSA_IDP), rsa, alg="RS256", kid="idp-rsa-1"), verifier
    )

    assert "algorithm 'RS256'" in reason
    assert accepted["iss"] == RSA_IDP  # the same key is fine where RS256 is configured


async def test_a_symmetric_key_in_a_providers_jwks_is_never_used(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys
) -> None:
    verifier, _ = external
    oct_key = provider_keys.oct
    token = hmac_token({"alg": "HS256", "kid": "idp-oct-1"}, idp_claims(RSA_IDP), oct_key.raw_value)

    assert "algorithm 'HS256'" in await refused(token, verifier)


async def test_a_provider_can_not_mint_a_client_identity(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys
) -> None:
    verifier, _ = external
    token = sign(idp_claims(kind="client", client_id="gh_abc"), provider_keys.ec, kid="idp-ec-1")

    identity = identity_from_claims(await verify_token(token, verifier), verifier)

    assert (identity.kind, identity.client_id) == ("person", None)


async def test_keys_do_not_cross_between_issuers(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys, keys: HubKeys
) -> None:
    verifier, _ = external
    hub_signed_as_provider = sign(idp_claims(), keys.signing_key, kid=keys.kid)
    provider_signed_as_hub = sign(
        idp_claims("gridhub", aud="gridhub", kind="person", jti="x"),
        provider_keys.ec,
        kid="idp-ec-1",
    )

    assert "unknown kid" in await refused(hub_signed_as_provider, verifier)
    assert "unknown kid" in await refused(provider_signed_as_hub, verifier)


async def test_a_providers_audience_and_expiry_are_checked(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys
) -> None:
    verifier, _ = external
    key = provider_keys.ec
    now = int(time.time())

    assert "aud" in await refused(sign(idp_claims(aud="gridhub"), key, kid="idp-ec-1"), verifier)
    assert "exp" in await refused(sign(idp_claims(exp=None), key, kid="idp-ec-1"), verifier)
    expired = sign(idp_claims(iat=now - 900, exp=now - 600), key, kid="idp-ec-1")
    assert "Expired" in await refused(expired, verifier)


async def test_a_rotated_jwks_file_is_read_again(
    external: tuple[Verifier, Path], provider_keys: ProviderKeys
) -> None:
    verifier, jwks_file = external
    new_key = ECKey.generate_key("P-256", parameters={"kid": "idp-ec-2"}, private=True)
    token = sign(idp_claims(), new_key, kid="idp-ec-2")
    assert "unknown kid" in await refused(token, verifier)

    jwks_file.write_text(json.dumps({"keys": [new_key.as_dict(private=False)]}))

    assert (await verify_token(token, verifier))["sub"] == "u-1001"


class _Keys:
    """An issuer's key list that a test can empty (a key withdrawn by its provider)."""

    def __init__(self, key: ECKey) -> None:
        self.keys = {key.kid: key}

    async def key(self, kid: str) -> Any:
        return self.keys.get(kid)


async def test_a_remembered_signature_still_has_its_claims_and_key_checked(
    auth_settings: Settings,
) -> None:
    from auth.issuers import Issuer

    key = ECKey.generate_key("P-256", parameters={"kid": "provider-1"})
    source = _Keys(key)
    issuer = Issuer("https://idp.example", "gridhub", ("ES256",), source)
    verifier = Verifier([issuer])
    issued = int(time.time())
    claims = {"iss": issuer.name, "aud": "gridhub", "sub": "worker-1", "exp": issued + 60}
    token = sign(claims, key, kid="provider-1")

    assert (await verify_token(token, verifier))["sub"] == "worker-1"
    assert verifier.signed(token) is not None  # the second use skips the signature check
    # The same signature over another payload is a new text: checked, and refused.
    header, _, signature = token.split(".")
    forged = ".".join([header, b64(json.dumps({**claims, "sub": "street-1"}).encode()), signature])
    await refused(forged, verifier)
    # Expiry is checked on every use.
    await refused(token, verifier, now=issued + 3600)
    # A key the provider withdrew ends its tokens though their signature was remembered.
    source.keys.clear()
    assert "unknown kid" in await refused(token, verifier)


async def test_a_token_accepted_whole_is_taken_again_unparsed_within_its_time_claims(
    auth_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Using a token again within a minute costs no parsing, signature or claims check — yet
    it is refused from the second its ``exp`` says, not a second later, and never before
    its ``nbf``; the key is still looked up every time (see the test above)."""
    from auth import tokens
    from auth.issuers import Issuer

    key = ECKey.generate_key("P-256", parameters={"kid": "provider-1"})
    issuer = Issuer("https://idp.example", "gridhub", ("ES256",), _Keys(key))
    verifier = Verifier([issuer])
    issued = int(time.time())
    claims = {
        "iss": issuer.name,
        "aud": "gridhub",
        "sub": "worker-1",
        "nbf": issued + 10,
        "exp": issued + 60,
    }
    token = sign(claims, key, kid="provider-1")
    assert "not yet valid" in await refused(token, verifier, now=issued + 9)
    assert (await verify_token(token, verifier, now=issued + 10))["sub"] == "worker-1"

    def unparsed(_: bytes) -> Any:
        raise AssertionError("an accepted token was parsed again")

    monkeypatch.setattr(tokens, "extract_compact", unparsed)
    assert (await verify_token(token, verifier, now=issued + 59))["sub"] == "worker-1"
    monkeypatch.undo()
    await refused(token, verifier, now=issued + 60)  # exp: on or after it, refused
    await refused(token, verifier, now=issued + 9)  # and before nbf, though accepted since
