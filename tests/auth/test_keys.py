"""The hub's signing key: made once, kept private, named by its thumbprint, rotated safely."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from auth.keys import RETIRED_FILE, SIGNING_FILE, HubKeys, rotate

PRIVATE_PARAMETERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_creates_a_key_only_its_owner_can_read(key_dir: Path) -> None:
    keys = HubKeys.load_or_create(key_dir)

    assert _mode(key_dir) == 0o700
    assert _mode(key_dir / SIGNING_FILE) == 0o600
    stored = json.loads((key_dir / SIGNING_FILE).read_text())
    assert stored["kty"] == "EC"
    assert stored["crv"] == "P-256"
    assert "d" in stored
    assert stored["kid"] == keys.kid
    assert [path.name for path in key_dir.iterdir() if not path.name.startswith(".")] == [
        SIGNING_FILE
    ]


def test_the_key_survives_a_restart(key_dir: Path) -> None:
    first = HubKeys.load_or_create(key_dir)

    again = HubKeys.load_or_create(key_dir)

    assert again.kid == first.kid
    assert again.jwks() == first.jwks()


def test_the_kid_is_the_rfc7638_thumbprint(key_dir: Path) -> None:
    keys = HubKeys.load_or_create(key_dir)
    public = keys.jwks()["keys"][0]

    # RFC 7638 §3.2: the required members, sorted, no whitespace, SHA-256, base64url.
    canonical = json.dumps(
        {name: public[name] for name in ("crv", "kty", "x", "y")},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(canonical.encode()).digest()

    assert keys.kid == base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_the_jwks_publishes_public_halves_only(key_dir: Path) -> None:
    rotate(key_dir)
    keys = HubKeys.load_or_create(key_dir)

    published = keys.jwks()["keys"]

    assert len(published) == 2
    for key in published:
        assert not PRIVATE_PARAMETERS & key.keys()
        assert (key["alg"], key["use"], key["kty"]) == ("ES256", "sig", "EC")
        assert key["kid"]


def test_a_kid_edited_in_the_file_is_not_believed(key_dir: Path) -> None:
    real = HubKeys.load_or_create(key_dir).kid
    path = key_dir / SIGNING_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | {"kid": "chosen-by-attacker"}))

    assert HubKeys.load_or_create(key_dir).kid == real


def test_rotation_keeps_the_old_public_key_listed(key_dir: Path) -> None:
    old = HubKeys.load_or_create(key_dir).kid

    new = rotate(key_dir)
    newer = rotate(key_dir)

    keys = HubKeys.load_or_create(key_dir)
    assert keys.kid == newer
    assert [key["kid"] for key in keys.jwks()["keys"]] == [newer, new, old]
    assert _mode(key_dir / RETIRED_FILE) == 0o600
    assert _mode(key_dir / SIGNING_FILE) == 0o600
    retired = json.loads((key_dir / RETIRED_FILE).read_text())
    assert all("d" not in entry["jwk"] for entry in retired["keys"])


def test_processes_starting_together_agree_on_one_key(key_dir: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(lambda _: HubKeys.load_or_create(key_dir).kid, range(16)))

    assert len(kids) == 1
    assert HubKeys.load_or_create(key_dir).kid in kids


def test_concurrent_rotations_lose_no_key(key_dir: Path) -> None:
    first = HubKeys.load_or_create(key_dir).kid

    with ThreadPoolExecutor(4) as pool:
        new = set(pool.map(lambda _: rotate(key_dir), range(4)))

    listed = {key["kid"] for key in HubKeys.load_or_create(key_dir).jwks()["keys"]}
    assert listed == new | {first}


def test_refresh_is_a_no_op_until_the_files_change(key_dir: Path) -> None:
    keys = HubKeys.load_or_create(key_dir)

    assert keys.refresh() is False
    rotate(key_dir)
    assert keys.refresh() is True
    assert keys.refresh() is False


def test_a_key_file_others_can_read_is_reported(
    key_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    HubKeys.load_or_create(key_dir)
    (key_dir / SIGNING_FILE).chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="auth.keys"):
        HubKeys.load_or_create(key_dir)

    assert "readable by other users" in caplog.text


def test_a_key_of_another_type_is_refused(key_dir: Path) -> None:
    key_dir.mkdir(mode=0o700)
    (key_dir / SIGNING_FILE).write_text(json.dumps({"kty": "oct", "k": "c2VjcmV0"}))

    with pytest.raises(ValueError, match="EC P-256"):
        HubKeys.load_or_create(key_dir)


def test_the_jwks_lists_members_in_the_order_it_always_had(key_dir: Path) -> None:
    """Clients may cache or compare the published JWKS byte for byte."""
    keys = HubKeys.load_or_create(key_dir)

    (published,) = keys.jwks()["keys"]

    assert list(published) == ["kty", "crv", "x", "y", "alg", "use", "kid"]
    stored = json.loads((key_dir / SIGNING_FILE).read_text())
    assert list(stored) == ["kty", "crv", "x", "y", "d", "alg", "use", "kid"]


def test_a_signing_file_without_its_private_key_is_refused(key_dir: Path) -> None:
    HubKeys.load_or_create(key_dir)
    path = key_dir / SIGNING_FILE
    path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items() if k != "d"}))

    with pytest.raises(ValueError, match="no private key"):
        HubKeys.load_or_create(key_dir)
