"""``GET /audit/public-key``: the keys that verify the log's checkpoints, for anyone to fetch.

The app loads the keys at start-up into ``app.state.audit_keys`` (an
:class:`~audit.keys.AuditKeys`, from ``AuditKeys.load_or_create(settings.audit_key_dir)``) and
mounts :func:`public_key_endpoint`. The document is public by design — it holds no private
parameter — and it is the same one ``gridhub audit public-key`` prints, which
``gridhub audit verify --file EXPORT --public-key FILE`` takes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from audit.keys import AuditKeys


async def public_key_endpoint(request: Request) -> Response:
    """The current key and every retired one, so checkpoints signed before a rotation verify."""
    keys: AuditKeys = request.app.state.audit_keys
    keys.refresh()  # a rotation by the CLI shows without a restart
    return JSONResponse(keys.document(), headers={"Cache-Control": "public, max-age=300"})
