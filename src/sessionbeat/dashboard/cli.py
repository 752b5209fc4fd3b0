"""Serve the Streamlit page (to be written)."""

from __future__ import annotations

import typer


def dashboard(ctx: typer.Context) -> None:
    """Serve the Streamlit page."""
    raise typer.Exit(1)
