"""The ``sessionbeat`` command line (typer). Wires together the commands of each area.

The root callback builds the one :class:`~sessionbeat.settings.Settings` object and configures
logging once; commands find the settings in ``ctx.obj``. Named exceptions become exit codes here
(:data:`EXIT_CODES`). ``sessionbeat publish`` normally never reaches this module: the console
script's entry point (``sessionbeat._entry``) sends it down the stdlib-only hook path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat import __version__
from sessionbeat.cli_support import ErrorHandlingGroup, configure_logging
from sessionbeat.settings import load_settings

app = typer.Typer(
    name="sessionbeat",
    cls=ErrorHandlingGroup,
    help="A live, cross-host monitor of Claude Code sessions over MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sessionbeat {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    broker_url: Annotated[
        str | None,
        typer.Option(
            help="MQTT broker URL", show_default="SESSIONBEAT_BROKER_URL or mqtt://127.0.0.1:1883"
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="this machine's host id", show_default="SESSIONBEAT_HOST or the short hostname"
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            help="aggregator API URL", show_default="SESSIONBEAT_API_URL or http://127.0.0.1:8787"
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="local state directory",
            show_default="SESSIONBEAT_STATE_DIR or ~/.local/state/sessionbeat (platformdirs)",
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            help="DEBUG, INFO, WARNING or ERROR", show_default="SESSIONBEAT_LOG_LEVEL or INFO"
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print version")
    ] = False,
) -> None:
    """Build the settings once and configure logging."""
    settings = load_settings(
        broker_url=broker_url,
        host=host,
        api_url=api_url,
        state_dir=state_dir,
        log_level=log_level.upper() if log_level else None,
    )
    configure_logging(settings.log_level)
    ctx.obj = settings


@app.command()
def publish() -> None:
    """Hand one Claude Code hook event (JSON on stdin) to the host agent. Always exits 0.

    This is the command Claude Code's hooks run; it prints nothing and never blocks.
    """
    from sessionbeat.publisher.hook import main as hook_main

    raise typer.Exit(hook_main([]))


notify_app = typer.Typer(
    help="Push notifications (Apprise): test them, see their state.", no_args_is_help=True
)
"""``sessionbeat notify``: the push notifier's commands (``status`` reads the API)."""


def _register() -> None:
    """Add the commands of each area (their modules import heavy libraries lazily)."""
    from sessionbeat.aggregator import cli as aggregator_cli
    from sessionbeat.broker import cli as broker_cli
    from sessionbeat.dashboard import cli as dashboard_cli
    from sessionbeat.mcp_server import cli as mcp_cli
    from sessionbeat.notifier import cli as notify_cli
    from sessionbeat.publisher import cli as publisher_cli
    from sessionbeat.readers import cli as readers_cli
    from sessionbeat.stack import cli as stack

    app.command("aggregator")(aggregator_cli.aggregator)
    app.command("dashboard")(dashboard_cli.dashboard)
    app.command("statusline")(publisher_cli.statusline)
    app.command("up")(stack.up)
    app.command("demo")(stack.demo)
    app.command("doctor")(readers_cli.doctor)
    app.command("tail")(readers_cli.tail)
    app.command("mcp")(mcp_cli.mcp)
    app.add_typer(publisher_cli.agent_app, name="agent")
    app.add_typer(publisher_cli.hooks_app, name="hooks")
    app.add_typer(readers_cli.app, name="sessions")
    app.add_typer(broker_cli.app, name="broker")
    notify_app.command("test")(notify_cli.notify_test)
    notify_app.command("status")(readers_cli.notify_status)
    app.add_typer(notify_app, name="notify")


_register()


def main() -> int:
    """Run the CLI and return its exit code (named errors are converted by the root group)."""
    try:
        app()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
