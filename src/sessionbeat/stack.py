"""The embedded local stack (``sessionbeat up``) and the recorded-session demo (``demo``).

``up`` starts, as child processes: a Mosquitto of its own (loopback, ``mosquitto/local.conf``,
data in ``<state_dir>/broker``) unless ``SESSIONBEAT_BROKER_URL`` names a broker, the aggregator,
the dashboard and this host's agent. Ctrl-C (or SIGTERM) stops them in reverse order.
``demo`` replays the real recorded hook sessions through real agents for three demo hosts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat import topics
from sessionbeat.broker import INSTALL_HINT, LocalBroker, find_mosquitto
from sessionbeat.cli_support import get_settings
from sessionbeat.errors import ApiUnavailableError, NotFoundError
from sessionbeat.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)


class Children:
    """Child processes started in order and stopped in reverse (SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` with its output in ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self.procs.append((name, proc))
        return proc

    def dead(self) -> list[str]:
        """Return the names of children that have exited."""
        return [name for name, proc in self.procs if proc.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every child, newest first."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def port_in_use(host: str, port: int) -> bool:
    """Return True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_http(url: str, timeout: float) -> None:
    """Block until ``url`` answers at all (any HTTP status); raises ``ApiUnavailableError``."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                raise ApiUnavailableError(f"{url} did not answer within {timeout:.0f} s") from exc
            time.sleep(0.1)


def wait_for_agent(settings: Settings, timeout: float) -> None:
    """Block until this host's agent says it is connected to the broker (its status file).

    So the banner, and a ``sessionbeat doctor`` run right after it, see a connected agent.
    Raises ``ApiUnavailableError`` naming the agent's status file after ``timeout`` seconds.
    """
    from sessionbeat.publisher.agent_cli import agent_pid, read_status

    def connected() -> bool:
        status = read_status(settings) or {}  # a file left by an earlier agent does not count
        return bool(status.get("connected")) and status.get("pid") == agent_pid(settings)

    deadline = time.monotonic() + timeout
    while not connected():
        if time.monotonic() > deadline:
            raise ApiUnavailableError(
                f"the agent did not connect to the broker within {timeout:.0f} s "
                f"(see {settings.state_dir / 'agent-status.json'} and the logs)"
            )
        time.sleep(0.05)


def _self_argv() -> list[str]:
    return [sys.executable, "-m", "sessionbeat"]


def _child_env(settings: Settings, broker_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env[f"{ENV_PREFIX}BROKER_URL"] = broker_url
    env[f"{ENV_PREFIX}STATE_DIR"] = str(settings.state_dir)
    env[f"{ENV_PREFIX}API_URL"] = f"http://{settings.http_host}:{settings.http_port}"
    return env


def up(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="aggregator HTTP port (default 8787)")] = None,
    dashboard_port: Annotated[
        int | None, typer.Option(help="dashboard port (default 8501)")
    ] = None,
    broker_port: Annotated[int, typer.Option(help="port of the embedded Mosquitto")] = 1883,
    dashboard: Annotated[bool, typer.Option(help="start the Streamlit page")] = True,
    agent: Annotated[bool, typer.Option(help="start this host's agent")] = True,
) -> None:
    """Start the whole stack locally: Mosquitto, aggregator, dashboard and agent.

    Uses the broker in ``SESSIONBEAT_BROKER_URL`` when set, else starts Mosquitto on
    127.0.0.1:``broker_port``. Exits 2 with install instructions when Mosquitto is missing.
    """
    settings = get_settings(ctx)
    updates: dict[str, object] = {}
    if port is not None:
        updates["http_port"] = port
    if dashboard_port is not None:
        updates["dashboard_port"] = dashboard_port
    settings = settings.model_copy(update=updates)
    external = bool(os.environ.get(f"{ENV_PREFIX}BROKER_URL"))
    broker: LocalBroker | None = None
    children = Children(settings.state_dir / "logs")
    stop_requested = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if external:
            broker_url = str(settings.broker_url)
        else:
            try:
                find_mosquitto()
            except NotFoundError:
                typer.echo(INSTALL_HINT, err=True)
                raise typer.Exit(2) from None
            if port_in_use("127.0.0.1", broker_port):
                typer.echo(
                    f"sessionbeat: port {broker_port} is in use (a system mosquitto? "
                    "`sudo systemctl disable --now mosquitto`). Use --broker-port N, or "
                    f"SESSIONBEAT_BROKER_URL=mqtt://127.0.0.1:{broker_port} to use that broker.",
                    err=True,
                )
                raise typer.Exit(2)
            broker = LocalBroker(settings.state_dir / "broker", port=broker_port)
            broker.start()
            broker_url = broker.url
        env = _child_env(settings, broker_url)
        api = f"http://{settings.http_host}:{settings.http_port}"
        children.start(
            "aggregator",
            [
                *_self_argv(),
                "aggregator",
                "--host",
                settings.http_host,
                "--port",
                str(settings.http_port),
            ],
            env,
        )
        wait_for_http(f"{api}/healthz", 30)
        if agent:
            children.start("agent", [*_self_argv(), "agent", "run"], env)
            wait_for_agent(settings, 30)
        page = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
        if dashboard:
            children.start(
                "dashboard",
                [
                    *_self_argv(),
                    "dashboard",
                    "--host",
                    settings.dashboard_host,
                    "--port",
                    str(settings.dashboard_port),
                ],
                env,
            )
        address = settings.broker
        port_flag = broker.port if broker else address.port
        typer.echo(
            "sessionbeat is up.\n"
            f"  broker      {broker_url if broker else address.display()}"
            f"{'  (embedded, data in ' + str(broker.data_dir) + ')' if broker else ''}\n"
            f"  API         {api}/sessions   (also /summary /hosts /history /metrics)\n"
            + (f"  dashboard   {page}\n" if dashboard else "")
            + f"  live tail   mosquitto_sub -h {address.host if not broker else '127.0.0.1'} "
            f"-p {port_flag} -v -t '{topics.TAIL_FILTER}'\n"
            "  try         sessionbeat demo     (replays recorded sessions from three hosts)\n"
            f"  logs        {children.log_dir}\n"
            "Ctrl-C stops everything."
        )
        while not stop_requested:
            dead = children.dead()
            if dead:
                typer.echo(
                    f"sessionbeat: {', '.join(dead)} exited; see {children.log_dir}", err=True
                )
                raise typer.Exit(1)
            time.sleep(0.5)
        typer.echo("stopping ...")
    finally:
        children.stop()
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def demo(
    ctx: typer.Context,
    delay: Annotated[float, typer.Option(help="seconds between hook events")] = 1.0,
    loop: Annotated[bool, typer.Option(help="replay again and again until Ctrl-C")] = False,
    linger: Annotated[
        float, typer.Option(help="seconds to keep the demo hosts online afterwards")
    ] = 120.0,
) -> None:
    """Replay real recorded Claude Code sessions from three demo hosts against the stack.

    Starts one real agent per demo host (macbook, kai-server, winbox) on the configured broker
    and pipes each recorded hook payload through the real ``sessionbeat publish``.
    """
    from sessionbeat.replay import SESSIONS, STATUSLINES, interleaved, load_payload

    settings = get_settings(ctx)
    hosts = sorted({s.host for s in SESSIONS})
    root = settings.state_dir / "demo"
    children = Children(root / "logs")

    def _on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run the cleanup below: the demo agents must not outlive us

    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        for host in hosts:
            env = _child_env(settings, str(settings.broker_url))
            env[f"{ENV_PREFIX}STATE_DIR"] = str(root / host)
            env[f"{ENV_PREFIX}HOST"] = host
            # An empty Claude config dir: the demo hosts must not pick up this machine's
            # real sessions from Claude Code's registry.
            env[f"{ENV_PREFIX}CLAUDE_CONFIG_DIR"] = str(root / host / "claude")
            children.start(f"agent-{host}", [*_self_argv(), "agent", "run"], env)
        for host in hosts:
            _wait_for_socket(root / host / "agent.sock", 20)
        typer.echo(
            f"demo: {len(SESSIONS)} recorded sessions on {', '.join(hosts)}; "
            f"watch `sessionbeat sessions list` or the dashboard"
        )
        publish = [*_self_argv(), "publish"]
        while True:
            for host, name in STATUSLINES:  # sessions known from their status line (context)
                env = dict(os.environ, **{f"{ENV_PREFIX}STATE_DIR": str(root / host)})
                subprocess.run(
                    [*_self_argv(), "statusline"],
                    input=load_payload(name),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    check=False,
                )
            for session, payload in interleaved():
                env = dict(os.environ, **{f"{ENV_PREFIX}STATE_DIR": str(root / session.host)})
                subprocess.run(publish, input=payload, env=env, check=False)
                time.sleep(delay)
            if not loop:
                break
        typer.echo(f"demo: replay done; hosts stay online for {linger:.0f} s (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(linger)
    except KeyboardInterrupt:
        pass
    finally:
        children.stop()
        signal.signal(signal.SIGTERM, previous)


def _wait_for_socket(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise ApiUnavailableError(f"demo agent did not start ({path} missing)")
        time.sleep(0.05)
