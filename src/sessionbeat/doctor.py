"""Check the set-up of this host (to be written)."""

from __future__ import annotations

import typer


def doctor(ctx: typer.Context) -> None:
    """Check the set-up of this host."""
    raise typer.Exit(1)
