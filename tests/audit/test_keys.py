"""The audit signing keys: created once, kept apart, rotated without losing the old ones."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
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
    thumbprint,
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
    assert keys.key_id == thumbprint(public)
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
