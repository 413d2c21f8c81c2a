"""``python -m cli`` is the ``gridhub`` command."""

from cli.main import app

app(prog_name="gridhub")
