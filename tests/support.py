"""Small helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any


def data_of(body: dict[str, Any]) -> Any:
    """The data of a response that must have no errors."""
    assert "errors" not in body, body["errors"]
    return body["data"]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


def nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]
