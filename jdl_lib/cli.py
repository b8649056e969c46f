"""The ``jdl`` command line. Each sub-command is a thin wrapper over one library call.

Library modules are imported inside the commands so that ``jdl --help`` stays fast.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="jdl",
    help="Justice Data Lab workbench: synthetic store, intake, linkage, matching, reports.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Justice Data Lab workbench. Run ``jdl COMMAND --help`` for each command."""


@app.command()
def version() -> None:
    """Print the jdl version."""
    from jdl_lib import __version__

    typer.echo(__version__)
