"""``sessionbeat notify test``: send one message to every notification URL, print each result.

Runs here, not in the aggregator: it reads ``SESSIONBEAT_NOTIFY_URLS`` (or the TOML file) of
this machine, so run it where the aggregator runs. URLs are shown redacted.
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from sessionbeat.cli_support import get_settings
from sessionbeat.errors import ConfigError
from sessionbeat.models import SessionView

log = logging.getLogger(__name__)


def notify_test(
    ctx: typer.Context,
    timeout: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="seconds per service", show_default="SESSIONBEAT_NOTIFY_TIMEOUT"
        ),
    ] = None,
) -> None:
    """Send one test message to every SESSIONBEAT_NOTIFY_URLS service and print each result.

    Exits 0 when every service took it, 1 when one failed or a URL is unusable, 2 when no URL
    is set.
    """
    from sessionbeat.notifier.service import Notifier

    settings = get_settings(ctx)
    if not settings.notify_urls:
        raise ConfigError(
            "no notification URL: set SESSIONBEAT_NOTIFY_URLS (e.g. ntfys://ntfy.sh/your-topic)"
        )

    def no_sessions() -> list[SessionView]:
        return []

    notifier = Notifier(settings, lambda batch, seen: [], no_sessions)
    failed = bool(notifier.invalid)
    for reason in notifier.invalid:
        typer.echo(f"✗ {reason}")
    for target, result in notifier.send_test(timeout):
        if result.outcome.value == "ok":
            typer.echo(f"✓ {target.service}: {target.url}: sent")
        else:
            failed = True
            typer.echo(f"✗ {target.service}: {target.url}: {result.error}")
    notifier.ledger.close()
    if failed:
        raise typer.Exit(1)
