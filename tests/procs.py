"""Real sessionbeat processes for end-to-end and fault tests: agent, aggregator, hooks.

Also a plain static HTTP server (:func:`static_server`) standing in for an older aggregator.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from sessionbeat.broker.embedded import free_port

SCRIPT = str(Path(sys.executable).parent / "sessionbeat")
T = TypeVar("T")


def wait_until(
    check: Callable[[], T], timeout: float = 15.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll ``check`` until it returns something truthy; return it.

    Raises ``AssertionError`` naming ``what`` (or the last value) after ``timeout`` seconds: a
    hang guard, not a timing assertion.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or result!r}")
        time.sleep(interval)


class Proc:
    """A child process with its output captured to a log file, stopped by the test."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            argv, env=env, stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._out.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def base_env(broker_url: str, **extra: str) -> dict[str, str]:
    """The test's environment plus a broker URL and extras (SESSIONBEAT_* names)."""
    env = dict(os.environ)
    env["SESSIONBEAT_BROKER_URL"] = broker_url
    env.update(extra)
    return env


class Agent(Proc):
    """``sessionbeat agent run`` for one host with its own state dir."""

    def __init__(self, broker_url: str, state_dir: Path, host: str, **extra: str) -> None:
        self.state_dir = state_dir
        self.host = host
        state_dir.mkdir(parents=True, exist_ok=True)
        claude = state_dir / "claude"
        claude.mkdir(exist_ok=True)
        settings = {
            "SESSIONBEAT_STATE_DIR": str(state_dir),
            "SESSIONBEAT_HOST": host,
            "CLAUDE_CONFIG_DIR": str(claude),
            "SESSIONBEAT_LOG_LEVEL": "DEBUG",
        }
        env = base_env(broker_url, **{**settings, **extra})
        self.env = env
        super().__init__([SCRIPT, "agent", "run"], env, state_dir / "agent-test.log")
        wait_until(lambda: (state_dir / "agent.sock").exists() or self.popen.poll() is not None, 20)
        assert self.popen.poll() is None, self.output()

    def publish(self, payload: bytes) -> subprocess.CompletedProcess[bytes]:
        """Run the real hook command with this agent's state dir, like Claude Code does."""
        env = dict(self.env)
        return subprocess.run(
            [SCRIPT, "publish"], input=payload, env=env, capture_output=True, timeout=30
        )


class Aggregator(Proc):
    """``sessionbeat aggregator`` on a free port; ``url`` is its base URL."""

    def __init__(self, broker_url: str, state_dir: Path, **extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state_dir.mkdir(parents=True, exist_ok=True)
        # Alone in its reaper lease group unless told otherwise: tests share one broker, and a
        # module-scoped aggregator starts before the test's own environment is set.
        extra.setdefault("SESSIONBEAT_LEASE_GROUP", f"t-{uuid.uuid4().hex[:12]}")
        env = base_env(broker_url, SESSIONBEAT_STATE_DIR=str(state_dir), **extra)
        super().__init__(
            [SCRIPT, "aggregator", "--bind", "127.0.0.1", "--port", str(self.port)],
            env,
            state_dir / "aggregator-test.log",
        )
        wait_until(self._answers, 30)

    def _answers(self) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"aggregator exited:\n{self.output()}")
        try:
            httpx.get(f"{self.url}/healthz", timeout=1)
            return True
        except httpx.HTTPError:
            return False

    def get(self, path: str, **params: Any) -> Any:
        """GET a JSON endpoint and return the decoded body (asserting HTTP 200)."""
        response = httpx.get(f"{self.url}{path}", params=params, timeout=5)
        assert response.status_code == 200, response.text
        return response.json()

    def get_text(self, path: str) -> str:
        """GET a text endpoint (e.g. /metrics) and return the body (asserting HTTP 200)."""
        response = httpx.get(f"{self.url}{path}", timeout=5)
        assert response.status_code == 200, response.text
        return response.text

    def sessions(self, **params: Any) -> dict[str, dict[str, Any]]:
        """GET /sessions (all=true, every page) as a dict by session id."""
        out: dict[str, dict[str, Any]] = {}
        query: dict[str, Any] = {"all": "true", "limit": 1000, **params}
        while True:
            response = httpx.get(f"{self.url}/sessions", params=query, timeout=10)
            assert response.status_code == 200, response.text
            out.update((s["session_id"], s) for s in response.json())
            cursor = response.headers.get("X-Next-Cursor")
            if cursor is None:
                return out
            query["cursor"] = cursor


def write_registry_entry(path: Path, pid: int, sid: str, status: str, **extra: object) -> None:
    """Rewrite a Claude Code registry file ``<pid>.json`` in place, as 2.1.328 does.

    Fields as in tests/fixtures/claude-code/real-2.1.328/registry-waiting.json: ``procStart``
    read from /proc (Linux), ``statusUpdatedAt`` now (epoch ms); ``extra`` adds or overrides.
    """
    from sessionbeat.claude_code.registry import linux_proc_start

    now = int(time.time() * 1000)
    doc = {
        "pid": pid,
        "sessionId": sid,
        "cwd": str(path.parent),
        "startedAt": now,
        "procStart": linux_proc_start(pid),
        "version": "2.1.328",
        "kind": "interactive",
        "entrypoint": "cli",
        "status": status,
        "updatedAt": now,
        "statusUpdatedAt": now,
        **extra,
    }
    with path.open("a+") as f:
        f.seek(0)
        f.truncate()
        f.write(json.dumps(doc))


@contextmanager
def static_server(root: Path) -> Iterator[str]:
    """Serve the files under ``root`` with ``python -m http.server`` (404 for anything else).

    Yields its URL once it answers; an aggregator of an older version, as far as a route it
    lacks is concerned. Stopped on exit.
    """
    port = free_port()
    args = ["-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)]
    server = Proc([sys.executable, *args], dict(os.environ), root.parent / f"http-{port}.log")
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return False
        return True

    try:
        wait_until(answers, 30, what=f"http.server on {url}")
        yield url
    finally:
        server.stop()
