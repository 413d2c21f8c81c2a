"""Errors a client may see, each with a stable ``extensions.code``.

graphql-core copies ``extensions`` from the original exception into the GraphQL error, so a
resolver only raises one of these; the endpoint never has to guess a code from a message.
"""

from __future__ import annotations

from typing import Any


class GridhubError(Exception):
    """An error whose message is safe to show to the client."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code, **self.details}


class BadUserInput(GridhubError):
    """The request is well-formed GraphQL but an argument's value cannot be used."""

    code = "BAD_USER_INPUT"


class Forbidden(GridhubError):
    """The caller's access plan denies this field, or a filter on a field it may not read."""

    code = "FORBIDDEN"


class PurposeRequired(GridhubError):
    """A sensitive field needs a declared purpose (``X-Access-Purpose``) that a grant covers."""

    code = "PURPOSE_REQUIRED"
