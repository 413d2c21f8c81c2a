"""``python -m hub``, the name scripts used before the commands moved to ``cli``: still the
``gridhub`` command. A launcher only; nothing in the hub imports the commands."""

from cli.main import app

app(prog_name="gridhub")
