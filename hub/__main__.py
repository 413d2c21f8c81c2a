"""``python -m hub`` is the ``gridhub`` command."""

from hub.cli import app

app(prog_name="gridhub")
