"""The audit signing keys: created once, kept apart, rotated without losing the old ones."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from audit.chain import b64encode
from audit.http import public_key_response
from audit.keys import (
    RETIRED_FILE,
    SIGNING_FILE,
    AuditKeys,
    load_public_keys,
    read_public_key_file,
    rotate,
)
from auth.keys import HubKeys


def test_first_start_creates_a_private_key_only_the_owner_reads(tmp_path: Path) -> None:
    key_dir = tmp_path / "audit-keys"
    keys = AuditKeys.load_or_create(key_dir)
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((key_dir / SIGNING_FILE).stat().st_mode) == 0o600
    again = AuditKeys.load_or_create(key_dir)
    assert again.key_id == keys.key_id
    public = keys.public_keys[keys.key_id]
    assert keys.key_id == _handmade_thumbprint(public.public_bytes(Encoding.Raw, PublicFormat.Raw))
    public.verify(keys.sign(b"checkpoint"), b"checkpoint")


def test_loading_for_verification_never_creates_a_key(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        AuditKeys.load(tmp_path / "nothing-here")
    assert not (tmp_path / "nothing-here").exists()


def test_the_token_keys_and_the_audit_keys_never_mix(tmp_path: Path) -> None:
    """Even one directory for both keeps two keys, each in its own file."""
    shared = tmp_path / "keys"
    token_keys = HubKeys.load_or_create(shared)
    audit_keys = AuditKeys.load_or_create(shared)
    assert audit_keys.key_id not in {key.kid for key in token_keys.public_keys}
    assert HubKeys.load_or_create(shared).kid == token_keys.kid


def test_the_public_document_holds_no_secret(tmp_path: Path) -> None:
    keys = AuditKeys.load_or_create(tmp_path / "k")
    document = keys.document()
    text = json.dumps(document)
    assert '"d"' not in text
    private = json.loads((tmp_path / "k" / SIGNING_FILE).read_text())["d"]
    assert private not in text
    (key,) = document["keys"]
    assert key["status"] == "current"
    assert (key["kty"], key["crv"], key["alg"], key["kid"]) == (
        "OKP",
        "Ed25519",
        "Ed25519",
        keys.key_id,
    )
    assert load_public_keys(document).keys() == {keys.key_id}


def test_rotation_keeps_every_earlier_key_published(tmp_path: Path) -> None:
    key_dir = tmp_path / "k"
    keys = AuditKeys.load_or_create(key_dir)
    first = keys.key_id
    second = rotate(key_dir)
    third = rotate(key_dir)
    assert keys.refresh()
    assert keys.key_id == third
    assert list(keys.public_keys) == [third, second, first]
    statuses = [(key["kid"], key["status"]) for key in keys.document()["keys"]]
    assert statuses == [(third, "current"), (second, "retired"), (first, "retired")]
    assert all("retired_at" in key for key in keys.document()["keys"][1:])
    assert stat.S_IMODE((key_dir / RETIRED_FILE).stat().st_mode) == 0o600
    assert not keys.refresh()  # nothing changed since


def test_a_document_that_lies_about_a_kid_is_refused(tmp_path: Path) -> None:
    keys = AuditKeys.load_or_create(tmp_path / "k")
    other = AuditKeys.load_or_create(tmp_path / "other")
    document = keys.document()
    document["keys"][0]["kid"] = other.key_id  # someone else's name on this key
    with pytest.raises(ValueError, match="thumbprint"):
        load_public_keys(document)
    for broken in ({}, {"keys": []}, {"keys": ["x"]}, {"keys": [{"kty": "EC"}]}):
        with pytest.raises(ValueError, match="audit"):
            load_public_keys(broken)
    short = {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64encode(b"short"), "kid": "x"}]}
    with pytest.raises(ValueError, match="32 bytes"):
        load_public_keys(short)


async def test_the_endpoint_serves_the_document_and_follows_a_rotation(tmp_path: Path) -> None:
    key_dir = tmp_path / "k"
    keys = AuditKeys.load_or_create(key_dir)

    async def public_key(_: Request) -> Response:
        return public_key_response(keys)

    app = Starlette(routes=[Route("/audit/public-key", public_key)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        before = await client.get("/audit/public-key")
        assert before.status_code == 200
        assert before.headers["content-type"] == "application/json"
        assert "public" in before.headers["cache-control"]
        assert load_public_keys(before.json()).keys() == {keys.key_id}
        new = rotate(key_dir)
        after = (await client.get("/audit/public-key")).json()
    assert [key["kid"] for key in after["keys"]][0] == new
    assert len(after["keys"]) == 2
    saved = tmp_path / "published.json"
    saved.write_text(json.dumps(after), encoding="utf-8")
    assert list(read_public_key_file(saved)) == [key["kid"] for key in after["keys"]]


# The Ed25519 JWK and RFC 7638 thumbprint as this module wrote them by hand before the key store
# moved onto joserfc: every kid already in a chain or a published document was made this way.
def _handmade_thumbprint(raw_public: bytes) -> str:
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64encode(raw_public)}
    text = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64encode(hashlib.sha256(text.encode("ascii")).digest())


def _handmade_public_jwk(raw_public: bytes) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64encode(raw_public),
        "kid": _handmade_thumbprint(raw_public),
        "alg": "Ed25519",
        "use": "sig",
    }


@pytest.mark.parametrize(
    "seed", [bytes(32), bytes(range(32)), b"\xff" * 32, b"gridhub-audit" * 2 + b"keys!!"]
)
def test_kids_and_jwks_are_the_ones_earlier_releases_published(tmp_path: Path, seed: bytes) -> None:
    """Given a key file written by hand the old way, the store names and publishes it the same."""
    private = Ed25519PrivateKey.from_private_bytes(seed)
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    old_file = {**_handmade_public_jwk(raw_public), "d": b64encode(seed)}
    key_dir = tmp_path / "k"
    key_dir.mkdir(mode=0o700)
    (key_dir / SIGNING_FILE).write_text(json.dumps(old_file), encoding="utf-8")
    (key_dir / SIGNING_FILE).chmod(0o600)

    keys = AuditKeys.load(key_dir)

    assert keys.key_id == _handmade_thumbprint(raw_public)
    (published,) = keys.document()["keys"]
    expected = {**_handmade_public_jwk(raw_public), "status": "current"}
    assert json.dumps(published) == json.dumps(expected)  # the same members in the same order
    assert load_public_keys(keys.document()).keys() == {keys.key_id}


def test_a_private_key_beside_another_keys_public_half_is_refused(tmp_path: Path) -> None:
    """Given a signing file whose ``x`` is not its ``d``'s, the key is refused, not renamed."""
    key_dir = tmp_path / "k"
    AuditKeys.load_or_create(key_dir)
    other = AuditKeys.load_or_create(tmp_path / "other").document()["keys"][0]
    path = key_dir / SIGNING_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | {"x": other["x"]}))

    with pytest.raises(ValueError, match="does not match its public half"):
        AuditKeys.load(key_dir)
