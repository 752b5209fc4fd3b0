"""Print sessionbeat messages live (to be written)."""

from __future__ import annotations

import typer


def tail(ctx: typer.Context) -> None:
    """Print sessionbeat messages live."""
    raise typer.Exit(1)
