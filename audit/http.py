"""``GET /audit/public-key``: the keys that verify the log's checkpoints, for anyone to fetch.

The app loads the keys at start-up (an :class:`~audit.keys.AuditKeys`, from
``AuditKeys.load_or_create(settings.audit_key_dir)``) and answers with
:func:`public_key_response`. The document is public by design — it holds no private
parameter — and it is the same one ``gridhub audit public-key`` prints, which
``gridhub audit verify --file EXPORT --public-key FILE`` takes.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from audit.keys import AuditKeys


def public_key_response(keys: AuditKeys) -> Response:
    """The current key and every retired one, so checkpoints signed before a rotation verify."""
    keys.refresh()  # a rotation by the CLI shows without a restart
    return JSONResponse(keys.document(), headers={"Cache-Control": "public, max-age=300"})
