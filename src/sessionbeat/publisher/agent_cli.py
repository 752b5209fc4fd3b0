"""Run and install the host agent (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run and install the host agent.", no_args_is_help=True)
