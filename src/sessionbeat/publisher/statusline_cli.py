"""The typer face of ``sessionbeat statusline`` (for ``--help`` and ``CliRunner``).

The console script runs :func:`sessionbeat.publisher.statusline.main` directly, without typer.
"""

from __future__ import annotations

from typing import Annotated

import typer


def statusline(
    ctx: typer.Context,
    chain: Annotated[
        str | None,
        typer.Option(help="key of the previous status line to run (set by hooks install)"),
    ] = None,
) -> None:
    """Status-line command for Claude Code: publishes exact context data, then shows a line.

    Reads Claude Code's status-line JSON on stdin and hands it to the host agent.
    Then it runs the status line you had before 'hooks install --statusline', output unchanged.
    Without one, it prints 'model · ctx N% · repo'.
    """
    from sessionbeat.publisher.statusline import main

    raise typer.Exit(main(["--chain", chain] if chain else []))
