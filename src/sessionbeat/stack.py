"""The embedded local stack: ``up`` and ``demo`` (to be written)."""

from __future__ import annotations

import typer


def up(ctx: typer.Context) -> None:
    """Start the local stack."""
    raise typer.Exit(1)


def demo(ctx: typer.Context) -> None:
    """Replay recorded sessions."""
    raise typer.Exit(1)
