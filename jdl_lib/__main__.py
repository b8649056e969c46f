"""``python -m jdl_lib`` runs the ``jdl`` command line."""

from jdl_lib.cli import app

app()
