"""Install Claude Code hooks (to be written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Install Claude Code hooks.", no_args_is_help=True)
