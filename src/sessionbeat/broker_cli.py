"""Broker user management (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Broker user management.", no_args_is_help=True)
