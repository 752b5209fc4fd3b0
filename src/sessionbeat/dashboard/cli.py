"""``sessionbeat dashboard``: serve the phone-first Streamlit page.

Runs ``streamlit run`` on ``dashboard/app.py`` headless, without usage statistics, bound to
``--bind``/``--port`` (default 127.0.0.1:8501; ``--host``, the old name of ``--bind``,
still works and prints a deprecation note; the page has no login, so an address other than
loopback needs ``--insecure-no-token``). The page finds the aggregator through the same
settings (``SESSIONBEAT_API_URL``, ``SESSIONBEAT_API_TOKEN``; ``SESSIONBEAT_HOST`` decides
whether a transcript is on this host), passed on in the environment.
The theme follows the phone's light or dark setting (no theme is forced).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat.cli_support import INSECURE_FLAG, bind_address, check_exposure, get_settings
from sessionbeat.settings import ENV_PREFIX, Settings

APP = Path(__file__).with_name("app.py")
CACHED_MESSAGE_BYTES = 1000
"""Streamlit's ``global.minCachedMessageSize`` for the page, in bytes (see streamlit_argv)."""


def streamlit_argv(host: str, port: int) -> list[str]:
    """Return the ``python -m streamlit run`` command line for the page."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
        # Streamlit sends an element the browser already holds as a ~75-byte reference, but
        # only elements of at least this many bytes (default 10 kB); a section of two cards
        # passes 1 kB, so unchanged sections cost the phone almost nothing per refresh
        # (bench/bench_dashboard.py measures it).
        "--global.minCachedMessageSize",
        str(CACHED_MESSAGE_BYTES),
    ]


def streamlit_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """Return ``base`` plus the settings the page needs (API URL and token) as variables.

    The page process builds its own settings from the environment, so values that came from
    the TOML file or flags reach it this way.
    """
    env = dict(base)
    env[f"{ENV_PREFIX}API_URL"] = settings.api_url
    env[f"{ENV_PREFIX}HOST"] = settings.host
    if settings.api_token is not None:
        env[f"{ENV_PREFIX}API_TOKEN"] = settings.api_token.get_secret_value()
    return env


def dashboard(
    ctx: typer.Context,
    bind: Annotated[
        str | None,
        typer.Option(
            "--bind",
            help="address the page listens on",
            show_default="SESSIONBEAT_DASHBOARD_HOST or 127.0.0.1",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="port of the page", show_default="SESSIONBEAT_DASHBOARD_PORT or 8501"),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", hidden=True, help="deprecated: use --bind")
    ] = None,
    insecure_no_token: Annotated[
        bool,
        typer.Option(
            INSECURE_FLAG, help="serve the page (it has no login) on a non-loopback --bind"
        ),
    ] = False,
) -> None:
    """Serve the phone-first page (Streamlit) for the aggregator at SESSIONBEAT_API_URL.

    The page has no login: an address other than loopback needs --insecure-no-token.
    """
    settings = get_settings(ctx)
    bind = bind_address(bind, host, "dashboard") or settings.dashboard_host
    check_exposure(
        "dashboard",
        bind,
        authenticated=False,
        insecure=insecure_no_token,
        why=(
            f"refusing to serve the page on {bind}: it has no login of its own and sends the API "
            "token for whoever opens it, so whoever reaches that address reads every session. "
            "Keep it on 127.0.0.1 behind an authenticating proxy, or on a tailnet address only"
        ),
    )
    listen = settings.dashboard_port if port is None else port
    env = streamlit_env(settings, os.environ)
    typer.echo(f"dashboard on http://{bind}:{listen} (aggregator {settings.api_url})", err=True)
    argv = streamlit_argv(bind, listen)
    if os.name == "nt":  # no exec on Windows: run it as a child and pass its exit code on
        raise typer.Exit(subprocess.call(argv, env=env))
    # Become Streamlit, so SIGTERM/Ctrl-C from `sessionbeat up` or a service manager reach
    # the server itself and no orphan is left behind.
    os.execve(sys.executable, argv, env)
