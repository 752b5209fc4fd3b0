"""Read sessions from the aggregator (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Read sessions from the aggregator.", no_args_is_help=True)
