"""The embedded local stack (``sessionbeat up``) and the recorded-session demo (``demo``).

``up`` starts, as child processes: a Mosquitto of its own (loopback, ``broker/local.conf``,
data in ``<state_dir>/broker``) unless the settings name a broker, the aggregator, this host's
agent and the dashboard, each once the one before answers; the banner comes when all do. A lock
in the state dir keeps it to one stack per state dir. Ctrl-C (or SIGTERM) stops them in
reverse order.
``demo`` replays the real recorded hook sessions through real agents for three demo hosts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat import topics
from sessionbeat.broker.embedded import INSTALL_HINT, LocalBroker, find_mosquitto
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


def http_answers(url: str) -> bool:
    """Return True if ``url`` answers at all (any HTTP status) within 1 s."""
    import httpx

    try:
        httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


def agent_connected(settings: Settings) -> bool:
    """Return True when this host's agent runs and its status file says it is connected.

    A status file left by an earlier agent does not count: its pid must be the running one.
    """
    from sessionbeat.publisher.agent_files import agent_pid, read_status

    status = read_status(settings) or {}
    return bool(status.get("connected")) and status.get("pid") == agent_pid(settings)


def _self_argv() -> list[str]:
    return [sys.executable, "-m", "sessionbeat"]


def _child_env(settings: Settings, broker_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env[f"{ENV_PREFIX}BROKER_URL"] = broker_url
    env[f"{ENV_PREFIX}STATE_DIR"] = str(settings.state_dir)
    env[f"{ENV_PREFIX}API_URL"] = f"http://{settings.http_host}:{settings.http_port}"
    return env


class StackRunningError(RuntimeError):
    """A ``sessionbeat up`` already runs for this state dir (its lock is held)."""


class StackLock:
    """The lock a running ``sessionbeat up`` holds in its state dir, and what it started.

    ``<state_dir>/stack.lock`` is a filelock held for the stack's lifetime (released by the OS
    if the process dies); ``<state_dir>/stack.json`` says who holds it and its URLs, so a
    second ``up`` can tell the user where the running one is.
    """

    def __init__(self, state_dir: Path) -> None:
        from filelock import FileLock

        self.state_dir = state_dir
        self.info_path = state_dir / "stack.json"
        self._lock = FileLock(str(state_dir / "stack.lock"))

    def acquire(self) -> None:
        """Take the lock; raises :class:`StackRunningError` describing the running stack."""
        from filelock import Timeout

        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise StackRunningError(self._describe_running()) from None
        self.info_path.unlink(missing_ok=True)

    def record(self, **urls: str) -> None:
        """Write who runs the stack (pid) and its URLs into ``stack.json``."""
        self.info_path.write_text(json.dumps({"pid": os.getpid(), **urls}, indent=1))

    def release(self) -> None:
        """Forget the running stack and release the lock."""
        self.info_path.unlink(missing_ok=True)
        self._lock.release()

    def _describe_running(self) -> str:
        try:
            info = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            info = {}
        where = ", ".join(f"{k} {v}" for k, v in info.items() if k != "pid")
        pid = info.get("pid")
        return (
            f"sessionbeat up already runs for {self.state_dir}"
            + (f" (pid {pid}{': ' + where if where else ''})" if pid else "")
            + "; stop it with Ctrl-C in its terminal"
            + (f" or `kill {pid}`" if pid else "")
            + ", or give this one its own SESSIONBEAT_STATE_DIR."
        )


def shell_command() -> str:
    """Return how to run ``sessionbeat`` from this shell: the bare name if PATH finds this one.

    Else the path of this installation's console script, relative to the working directory
    when inside it (``./.venv/bin/sessionbeat`` after ``./scripts/up``).
    """
    from sessionbeat.publisher.agent_files import console_script

    try:
        script = console_script()
    except NotFoundError:
        return f"{sys.executable} -m sessionbeat"
    found = shutil.which("sessionbeat")
    if found and Path(found).resolve() == script.resolve():
        return "sessionbeat"
    try:
        return f"./{script.relative_to(Path.cwd())}"
    except ValueError:
        return str(script)


def _wait_healthy(children: Children, what: str, ready: Callable[[], bool], timeout: float) -> None:
    """Wait until ``ready()``; fail at once if a child exited (``ApiUnavailableError``)."""
    deadline = time.monotonic() + timeout
    while not ready():
        dead = children.dead()
        if dead:
            raise ApiUnavailableError(
                f"{', '.join(dead)} exited while starting; see {children.log_dir}"
            )
        if time.monotonic() > deadline:
            raise ApiUnavailableError(
                f"{what} was not ready within {timeout:.0f} s; see {children.log_dir}"
            )
        time.sleep(0.1)


def start_broker(settings: Settings, broker_port: int) -> LocalBroker | None:
    """Start the embedded Mosquitto unless the settings name a broker; exit 2 if it can't."""
    if "broker_url" in settings.model_fields_set:  # a flag, the environment or the TOML file
        return None
    try:
        find_mosquitto()
    except NotFoundError:
        typer.echo(INSTALL_HINT, err=True)
        raise typer.Exit(2) from None
    if port_in_use("127.0.0.1", broker_port):
        typer.echo(
            f"sessionbeat: port {broker_port} is in use (a system mosquitto? "
            "`sudo systemctl disable --now mosquitto`). Use --broker-port N, or "
            f"--broker-url mqtt://127.0.0.1:{broker_port} to use that broker.",
            err=True,
        )
        raise typer.Exit(2)
    broker = LocalBroker(settings.state_dir / "broker", port=broker_port)
    broker.start()
    return broker


def _banner(
    settings: Settings, broker: LocalBroker | None, broker_url: str, log_dir: Path, dashboard: bool
) -> str:
    api = f"http://{settings.http_host}:{settings.http_port}"
    page = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
    address = settings.broker
    tail_host, tail_port = ("127.0.0.1", broker.port) if broker else (address.host, address.port)
    where = f"{broker_url}  (embedded, data in {broker.data_dir})" if broker else address.display()
    return (
        "sessionbeat is up.\n"
        f"  broker      {where}\n"
        f"  API         {api}/sessions   (also /summary /hosts /history /metrics)\n"
        + (f"  dashboard   {page}\n" if dashboard else "")
        + f"  live tail   mosquitto_sub -h {tail_host} -p {tail_port} -v -t "
        f"'{topics.TAIL_FILTER}'\n"
        f"  try         {shell_command()} demo     (replays recorded sessions from three hosts)\n"
        f"  logs        {log_dir}\n"
        "Ctrl-C stops everything."
    )


def up(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option(help="aggregator HTTP port", show_default="SESSIONBEAT_HTTP_PORT or 8787"),
    ] = None,
    dashboard_port: Annotated[
        int | None,
        typer.Option(help="dashboard port", show_default="SESSIONBEAT_DASHBOARD_PORT or 8501"),
    ] = None,
    broker_port: Annotated[int, typer.Option(help="port of the embedded Mosquitto")] = 1883,
    dashboard: Annotated[bool, typer.Option(help="start the Streamlit page")] = True,
    agent: Annotated[bool, typer.Option(help="start this host's agent")] = True,
) -> None:
    """Start the whole stack locally: Mosquitto, aggregator, dashboard and agent.

    Uses the broker the settings name (--broker-url, SESSIONBEAT_BROKER_URL or the config file).
    Without one, it starts Mosquitto on 127.0.0.1 at --broker-port.
    The banner comes once every part answers.
    Exits 2 if Mosquitto is missing or its port taken, or if 'up' already runs for this state dir.
    """
    settings = get_settings(ctx)
    updates: dict[str, object] = {}
    if port is not None:
        updates["http_port"] = port
    if dashboard_port is not None:
        updates["dashboard_port"] = dashboard_port
    settings = settings.model_copy(update=updates)
    lock = StackLock(settings.state_dir)
    try:
        lock.acquire()
    except StackRunningError as exc:
        typer.echo(f"sessionbeat: {exc}", err=True)
        raise typer.Exit(2) from None
    children = Children(settings.state_dir / "logs")
    broker: LocalBroker | None = None
    stop_requested = False

    def _on_signal(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        broker = start_broker(settings, broker_port)
        broker_url = broker.url if broker else str(settings.broker_url)
        env = _child_env(settings, broker_url)
        api = f"http://{settings.http_host}:{settings.http_port}"
        page = f"http://{settings.dashboard_host}:{settings.dashboard_port}"
        aggregator = [*_self_argv(), "aggregator", "--bind", settings.http_host]
        children.start("aggregator", [*aggregator, "--port", str(settings.http_port)], env)
        _wait_healthy(children, "the aggregator", lambda: http_answers(f"{api}/healthz"), 30)
        if agent:
            children.start("agent", [*_self_argv(), "agent", "run"], env)
            _wait_healthy(children, "the agent", lambda: agent_connected(settings), 30)
        if dashboard:
            board = [*_self_argv(), "dashboard", "--bind", settings.dashboard_host]
            children.start("dashboard", [*board, "--port", str(settings.dashboard_port)], env)
            health = f"{page}/_stcore/health"
            _wait_healthy(children, "the dashboard", lambda: http_answers(health), 60)
        lock.record(api=api, **({"dashboard": page} if dashboard else {}), broker=broker_url)
        typer.echo(_banner(settings, broker, broker_url, children.log_dir, dashboard))
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
        lock.release()
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

    Starts one real agent per demo host (macbook, kai-server, winbox) on the configured broker.
    Each recorded hook payload goes through the real 'sessionbeat publish'.
    """
    from sessionbeat.stack.replay import (
        SESSIONS,
        STATUSLINES,
        interleaved,
        load_payload,
        renamed,
        session_ids,
    )

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
            f"demo: {len(session_ids())} recorded sessions on {', '.join(hosts)}"
            f"{' (fresh session ids each round)' if loop else ''}; "
            f"watch `{shell_command()} sessions list` or the dashboard"
        )
        publish = [*_self_argv(), "publish"]
        rounds = 0
        while True:
            # The first round replays the recorded ids; each later one gets fresh ids, so an
            # ended session stays ended instead of its timeline starting again.
            ids: dict[str, str] | None = None if rounds == 0 else {}
            for host, name in STATUSLINES:  # sessions known from their status line (context)
                env = dict(os.environ, **{f"{ENV_PREFIX}STATE_DIR": str(root / host)})
                subprocess.run(
                    [*_self_argv(), "statusline"],
                    input=renamed(load_payload(name), ids),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    check=False,
                )
            for session, payload in interleaved():
                env = dict(os.environ, **{f"{ENV_PREFIX}STATE_DIR": str(root / session.host)})
                subprocess.run(publish, input=renamed(payload, ids), env=env, check=False)
                time.sleep(delay)
            rounds += 1
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
