"""Run the aggregator (to be written)."""

from __future__ import annotations

import typer


def aggregator(ctx: typer.Context) -> None:
    """Run the aggregator."""
    raise typer.Exit(1)
