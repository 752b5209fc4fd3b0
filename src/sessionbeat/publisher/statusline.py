"""Status-line command for Claude Code (to be written)."""

from __future__ import annotations

import typer


def statusline(ctx: typer.Context) -> None:
    """Status-line command for Claude Code."""
    raise typer.Exit(1)
