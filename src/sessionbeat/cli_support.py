"""Helpers every CLI module shares: the error-converting group, settings access, logging.

Kept apart from ``cli.py`` so that command modules can import it without a cycle.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from sessionbeat.errors import (
    ApiUnavailableError,
    BrokerUnavailableError,
    ConfigError,
    NotFoundError,
    SessionbeatError,
)
from sessionbeat.settings import Settings

EXIT_CODES: dict[type[SessionbeatError], int] = {
    ConfigError: 2,
    NotFoundError: 3,
    ApiUnavailableError: 4,
    BrokerUnavailableError: 5,
}
"""Exit code per error class; any other ``SessionbeatError`` exits 1."""


def exit_code_for(exc: SessionbeatError) -> int:
    """Return the exit code of a named error (:data:`EXIT_CODES`, else 1)."""
    return next((code for cls, code in EXIT_CODES.items() if isinstance(exc, cls)), 1)


class ErrorHandlingGroup(TyperGroup):
    """The root command group: a ``SessionbeatError`` becomes a message and an exit code.

    No command prints a traceback for an expected failure.
    """

    def invoke(self, ctx: Any) -> Any:
        """Invoke the command; on ``SessionbeatError`` print ``sessionbeat: <msg>`` and exit."""
        try:
            return super().invoke(ctx)
        except SessionbeatError as exc:
            typer.echo(f"sessionbeat: {exc}", err=True)
            raise typer.Exit(exit_code_for(exc)) from None


def get_settings(ctx: typer.Context) -> Settings:
    """Return the Settings the root callback built (every command calls this)."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):  # a command invoked without the root callback
        raise ConfigError("settings were not initialised")
    return settings


def bind_address(bind: str | None, host: str | None, command: str) -> str | None:
    """Return the address a server command listens on: ``--bind``, else the old ``--host``.

    ``aggregator`` and ``dashboard`` took their bind address as ``--host``, which everywhere
    else names a host id; ``--host`` still works there, hidden, and prints a one-line
    deprecation note to stderr. ``command`` names the command in that note. Returns None when
    neither was given (the caller then uses the settings).
    """
    if host is not None:
        typer.echo(f"sessionbeat {command}: --host is deprecated here; use --bind {host}", err=True)
    return bind if bind is not None else host


INSECURE_FLAG = "--insecure-no-token"
"""The flag that lets a server without authentication listen beyond loopback."""


def is_loopback(address: str) -> bool:
    """Return True if ``address`` is ``localhost`` or a loopback IP (127.0.0.0/8, ``::1``).

    Host names other than ``localhost`` are not resolved: they count as reachable from outside.
    """
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(
    command: str, address: str, *, authenticated: bool, insecure: bool, why: str
) -> None:
    """Refuse to serve without authentication on an address other machines can reach.

    ``address`` is the bind address of ``command`` (``aggregator`` or ``dashboard``);
    ``authenticated`` is True when every request must carry a secret (the API with a token).
    Loopback, or an authenticated server, passes. Otherwise ``insecure`` (the user passed
    :data:`INSECURE_FLAG`) lets it pass with a one-line note on stderr, and without it this
    raises ``ConfigError`` whose message starts with ``why`` and says what to do.
    """
    if authenticated or is_loopback(address):
        return
    if insecure:
        typer.echo(
            f"sessionbeat {command}: serving on {address} with no authentication "
            f"({INSECURE_FLAG}); whoever reaches that address reads every session",
            err=True,
        )
        return
    raise ConfigError(
        f"{why}; or pass {INSECURE_FLAG} if a firewall, a tailnet ACL or an "
        "authenticating proxy already decides who reaches it"
    )


def configure_logging(level: str, log_file: Path | None = None) -> None:
    """Configure the root logger once: ``level`` name, to stderr or to ``log_file``."""
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # paho (sessionbeat.mqtt) logs one DEBUG line per MQTT packet; its errors still show.
    for noisy in ("httpx", "httpcore", "uvicorn.access", "watchdog", "sessionbeat.mqtt"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
