"""Runs a :class:`~sessionbeat.stack.plan.StackPlan`: broker, children in order, stop on signal.

:class:`Stack` starts the embedded Mosquitto (if the plan says so), then each child once the
one before answers (:func:`wait_healthy`), and stops them all in reverse order on exit;
:func:`stop_on_signals` turns SIGTERM and SIGINT (Ctrl-C) into a flag the wait loop reads.
:class:`Children` is the process group, shared with the demo.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from sessionbeat.broker.embedded import INSTALL_HINT, LocalBroker, find_mosquitto
from sessionbeat.errors import ApiUnavailableError, ConfigError, NotFoundError
from sessionbeat.settings import Settings
from sessionbeat.stack.plan import EMBEDDED_HOST, ChildStep, StackPlan


def sessionbeat_argv(*args: str) -> list[str]:
    """Return the argv running ``sessionbeat <args>`` with this interpreter."""
    return [sys.executable, "-m", "sessionbeat", *args]


class Children:
    """Child processes started in order and stopped in reverse (SIGTERM, then SIGKILL)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` with ``env``, its output in ``<log_dir>/<name>.log``; return it."""
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
        """Stop every child, newest first: SIGTERM, then SIGKILL after ``timeout`` seconds."""
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


def wait_healthy(children: Children, what: str, ready: Callable[[], bool], timeout: float) -> None:
    """Wait until ``ready()`` is True, polling every 0.1 s.

    Raises ``ApiUnavailableError`` at once if a child exited, or after ``timeout`` seconds;
    both messages point at the log dir.
    """
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


def start_broker(plan: StackPlan) -> LocalBroker | None:
    """Start the embedded Mosquitto if the plan says so; return it (None: an external broker).

    Raises ``ConfigError`` (exit 2) when Mosquitto is not installed (the message says how to
    install it) or its port is taken, and ``BrokerUnavailableError`` when it does not start.
    """
    if not plan.embedded:
        return None
    try:
        find_mosquitto()
    except NotFoundError:
        raise ConfigError(INSTALL_HINT) from None
    if plan.broker_port and port_in_use(EMBEDDED_HOST, plan.broker_port):
        raise ConfigError(
            f"port {plan.broker_port} is in use (a system mosquitto? "
            "`sudo systemctl disable --now mosquitto`). Use --broker-port N, or "
            f"--broker-url mqtt://{EMBEDDED_HOST}:{plan.broker_port} to use that broker."
        )
    broker = LocalBroker(plan.broker_dir, port=plan.broker_port, bind=EMBEDDED_HOST)
    broker.start()
    return broker


@dataclass
class StopFlag:
    """Set once SIGTERM or SIGINT arrived (see :func:`stop_on_signals`)."""

    requested: bool = False


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """Within the block, SIGTERM and SIGINT set the yielded flag instead of interrupting.

    The previous handlers come back on exit. Main thread only (Python's signal rule).
    """
    flag = StopFlag()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        flag.requested = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Stack:
    """The running stack of a plan: its broker (if embedded) and children.

    Use as a context manager: :meth:`start`, then :meth:`wait`; leaving the block stops the
    children newest first, then the broker.
    """

    def __init__(self, plan: StackPlan) -> None:
        self.plan = plan
        self.children = Children(plan.log_dir)
        self.broker: LocalBroker | None = None

    def start(self) -> StackPlan:
        """Start the broker and each child once the one before answers.

        Returns the plan with the embedded broker's actual port. Raises what
        :func:`start_broker` and :func:`wait_healthy` raise.
        """
        self.broker = start_broker(self.plan)
        if self.broker is not None:
            self.plan = self.plan.with_broker_port(self.broker.port)
        env = self.plan.child_env(os.environ)
        for step in self.plan.steps():
            self.children.start(step.name, sessionbeat_argv(*step.args), env)
            wait_healthy(self.children, f"the {step.name}", self._ready(step), step.timeout)
        return self.plan

    def wait(self, stop: StopFlag, interval: float = 0.5) -> list[str]:
        """Wait until ``stop`` is requested or a child exits (polled every ``interval`` s).

        Returns the names of the children that exited ([] when stopped by a signal).
        """
        while not stop.requested:
            dead = self.children.dead()
            if dead:
                return dead
            time.sleep(interval)
        return []

    def _ready(self, step: ChildStep) -> Callable[[], bool]:
        url = step.health_url
        if url is None:
            settings = self.plan.settings
            return lambda: agent_connected(settings)
        return lambda: http_answers(url)

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.children.stop()
        if self.broker is not None:
            self.broker.stop()
