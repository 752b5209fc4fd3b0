"""``sessionbeat aggregator``: run the aggregator (MQTT in, HTTP API out) until stopped.

uvicorn serves the API in the main thread; paho's own thread receives MQTT. SIGTERM and Ctrl-C
stop both cleanly: the HTTP server drains, then the service stops its reaper, flushes the
history and disconnects from the broker. The command prints the API's URL once it listens
(``--port 0`` picks a free port and prints it). ``--bind`` is the address to listen on
(``--host``, its old name, still works and prints a deprecation note). An address other than
loopback is refused without ``SESSIONBEAT_API_TOKEN`` unless ``--insecure-no-token`` says that
something else guards it; the API answers only requests whose ``Host`` header it trusts
(``Settings.trusted_hosts``).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sessionbeat.cli_support import INSECURE_FLAG, bind_address, check_exposure, get_settings
from sessionbeat.errors import ConfigError

if TYPE_CHECKING:
    from sessionbeat.aggregator.service import AggregatorService
    from sessionbeat.notifier.service import Notifier
    from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN = 3
"""Seconds uvicorn waits for open requests (``/events`` streams) before closing them."""


def listen_socket(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on ``host:port`` (port 0: a free one).

    Raises ``ConfigError`` when the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket's proto is TCP; without it, Nagle + delayed ACK add ~40 ms to every keep-alive
    # response (measured: 41 ms vs 0.6 ms per GET /healthz).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def _server_class(base: type[Any]) -> type[Any]:
    """Return a uvicorn ``Server`` subclass that also runs ``on_exit`` when told to stop.

    uvicorn waits for open responses before it shuts down; ``GET /events`` streams never end
    on their own, so the signal closes the change feed first and the streams finish at once
    (instead of being cancelled with an error after the graceful timeout). ``on_exit`` runs
    on its own thread: a signal handler must not take a lock its thread may hold.
    """

    class Server(base):  # type: ignore[misc]
        on_exit: Any = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            if self.on_exit is not None:
                threading.Thread(target=self.on_exit, name="sessionbeat-close-streams").start()
            super().handle_exit(sig, frame)

    return Server


def _notifier(settings: Settings, service: AggregatorService) -> Notifier | None:
    """Return the notifier fed by ``service``'s change feed, None when no URL is set.

    It delivers only while ``service`` holds the reaper lease (:mod:`sessionbeat.notifier.standby`).

    A notifier whose every URL is unusable is returned (its status lists why) but not fed.
    """
    if not settings.notify_urls:
        return None
    from sessionbeat.aggregator.views import SessionFilter
    from sessionbeat.notifier.service import Notifier

    notifier = Notifier(
        settings,
        service.render_changes,
        lambda: service.sessions(SessionFilter(all=True)),
        lease=service.lease.holder,
    )
    if notifier.enabled:
        service.feed.attach(notifier)
    else:
        log.warning("no notification URL is usable: notifications are off")
    return notifier


def aggregator(
    ctx: typer.Context,
    bind: Annotated[
        str | None,
        typer.Option(
            "--bind",
            help="address the HTTP API listens on",
            show_default="SESSIONBEAT_HTTP_HOST or 127.0.0.1",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="HTTP port; 0 picks a free one",
            show_default="SESSIONBEAT_HTTP_PORT or 8787",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", hidden=True, help="deprecated: use --bind")
    ] = None,
    insecure_no_token: Annotated[
        bool,
        typer.Option(
            INSECURE_FLAG,
            help="serve on a non-loopback --bind without SESSIONBEAT_API_TOKEN",
        ),
    ] = False,
) -> None:
    """Run the aggregator: subscribe to the broker and serve the JSON API and /metrics.

    Prints the API's URL once it listens (with --port 0, the port it picked).
    SIGTERM or Ctrl-C stops it cleanly. An address other than loopback needs
    SESSIONBEAT_API_TOKEN (or --insecure-no-token).
    """
    import uvicorn

    from sessionbeat.aggregator.api import create_app
    from sessionbeat.aggregator.gc_tuning import tune_gc
    from sessionbeat.aggregator.service import AggregatorService
    from sessionbeat.exporter.collector import metrics_registry

    settings = get_settings(ctx)
    bind = bind_address(bind, host, "aggregator") or settings.http_host
    check_exposure(
        "aggregator",
        bind,
        authenticated=settings.api_token is not None,
        insecure=insecure_no_token,
        why=(
            f"refusing to serve the API on {bind} without a token: whoever reaches that address "
            "could read every session. Set SESSIONBEAT_API_TOKEN (e.g. python3 -c 'import "
            "secrets; print(secrets.token_urlsafe(32))') or bind 127.0.0.1"
        ),
    )
    sock = listen_socket(bind, settings.http_port if port is None else port)
    actual = sock.getsockname()[1]
    shown = f"[{bind}]" if ":" in bind else bind
    url = f"http://{shown}:{actual}"
    service = AggregatorService(settings)
    # The notifier's status feeds GET /notify and the sessionbeat_notification* metrics; None
    # (no URL set): notifications off, NotifyStatus(enabled=False).
    notifier = _notifier(settings, service)
    notify_status = notifier.status if notifier is not None else None
    app = create_app(
        service,
        settings,
        metrics_registry(
            service.snapshot,
            notify_status=notify_status,
            max_repos_per_host=settings.metrics_max_repos_per_host,
        ),
        manage_service=True,
        trusted_hosts=settings.trusted_hosts(bind),
        notify_status=notify_status,
    )
    tune_gc()
    config = uvicorn.Config(
        app,
        log_config=None,  # keep the logging configured by the root command
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    server = _server_class(uvicorn.Server)(config)
    server.on_exit = service.feed.close
    typer.echo(
        f"sessionbeat aggregator: API on {url} (broker {settings.broker.display()}, "
        f"history {service.history.location})"
    )
    log.info("serving the API on %s", url)
    # uvicorn re-raises the signal that stopped it once it has shut down (lifespan included);
    # these handlers make that re-raise a no-op, so a clean stop exits 0.
    stopped_by: list[int] = []

    def _note(signum: int, frame: Any) -> None:
        stopped_by.append(signum)

    previous = {sig: signal.signal(sig, _note) for sig in (signal.SIGINT, signal.SIGTERM)}
    if notifier is not None and notifier.enabled:
        notifier.start()
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if notifier is not None and notifier.enabled:
            notifier.stop()
    if not server.started:
        raise typer.Exit(1)
    log.info("aggregator exited")
