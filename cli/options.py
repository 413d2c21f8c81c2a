"""Options every ``gridhub`` command group shares, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: GRIDHUB_DATABASE_URL, else a SQLite file ./gridhub.db).",
        show_default=False,
    ),
]
