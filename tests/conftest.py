"""Shared fixtures: a real Mosquitto per test session, temp HOME/state dirs, fixture loaders.

Tests never touch the real home: every test runs with HOME, XDG dirs, CLAUDE_CONFIG_DIR and
SESSIONBEAT_* pointed at temporary directories (autouse ``isolated_env``).

A test whose tool is missing skips, or fails with SESSIONBEAT_REQUIRE_TOOLS=1 (tests/tools.py).
The skips of a run are written as one line to the file named by SESSIONBEAT_SKIP_REPORT, which
``./scripts/test`` prints last.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.stack import replay
from tests.aggregator.support import ManualClock, Publisher
from tests.tools import skip_summary

FIXTURES = Path(__file__).parent / "fixtures" / "claude-code"
"""Test-only Claude Code data: transcripts, real-2.1.328/ captures, synthetic/ examples."""
RECORDINGS = replay.RECORDINGS
"""The real hook and status-line inputs the demo replays (package data)."""

_ROOT = Path(tempfile.mkdtemp(prefix="sbt-", dir="/tmp"))
"""Every temp dir of this test session lives here; removed when the session ends."""


def short_tmpdir(prefix: str = "sb-") -> Path:
    """Return a new short temp dir under /tmp (Unix socket paths must stay < 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=_ROOT))


SKIP_REPORT = "SESSIONBEAT_SKIP_REPORT"
"""Environment variable: a file to write the run's skip summary line to (``./scripts/test``)."""

_skipped: list[str] = []
"""The reason of every test skipped in this session."""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Note the reason of each skipped test (expected failures are not skips)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _skipped.append(reason.removeprefix("Skipped: "))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the skip summary (if asked to) and remove the session's temp dirs."""
    if report := os.environ.get(SKIP_REPORT):
        Path(report).write_text(skip_summary(_skipped) + "\n" if _skipped else "")
    shutil.rmtree(_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def broker() -> Iterator[LocalBroker]:
    """A real mosquitto on a free loopback port, shared by the test session."""
    with LocalBroker(short_tmpdir("sb-broker-")) as b:
        yield b


@pytest.fixture
def own_broker() -> Iterator[LocalBroker]:
    """A real mosquitto of this test's own, for tests that stop, pause or restart it."""
    b = LocalBroker(short_tmpdir("sb-obroker-"))
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME, XDG dirs, Claude's config dir and sessionbeat's dirs at a temp dir."""
    root = short_tmpdir("sb-home-")
    home = root / "home"
    (home / ".claude").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("SESSIONBEAT_STATE_DIR", str(root / "state"))
    monkeypatch.setenv("SESSIONBEAT_CONFIG", str(root / "config.toml"))
    # Hooks run by tests must not leave detached agents behind; tests that want one start it.
    monkeypatch.setenv("SESSIONBEAT_AGENT_AUTOSTART", "0")
    # Aggregators of different tests share the session broker: each test gets its own reaper
    # lease, so a claim left by an earlier test (its aggregator killed) never holds this one up.
    monkeypatch.setenv("SESSIONBEAT_LEASE_GROUP", f"t-{uuid.uuid4().hex[:12]}")
    for var in (
        "SESSIONBEAT_BROKER_URL",
        "SESSIONBEAT_HOST",
        "SESSIONBEAT_API_URL",
        "SESSIONBEAT_API_TOKEN",
        "SESSIONBEAT_AGENT_TRANSPORT",
    ):
        monkeypatch.delenv(var, raising=False)
    return root


def fixture_path(name: str) -> Path:
    """Return the path of a recorded input (``RECORDINGS``) or else of a test fixture."""
    recorded = RECORDINGS / name
    return recorded if recorded.is_file() else FIXTURES / name


def load_fixture(name: str) -> dict[str, Any]:
    """Return a real Claude Code payload (a recording or a test fixture) as a dict."""
    data: dict[str, Any] = json.loads(fixture_path(name).read_text(encoding="utf-8"))
    return data


def real_hook(name: str, session_id: str, cwd: Path | None = None) -> bytes:
    """Return a real Claude Code 2.1.328 hook input with its session id (and cwd) replaced.

    ``name`` is a capture of ``tests/fixtures/claude-code/real-2.1.328/`` (``.json`` optional),
    e.g. ``hook-PermissionRequest-1``; the result is compact JSON bytes, as Claude Code writes
    it to the hook's stdin.
    """
    data = load_fixture(f"real-2.1.328/{name.removesuffix('.json')}.json")
    data["session_id"] = session_id
    if cwd is not None:
        data["cwd"] = str(cwd)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def git(cwd: Path, *args: str) -> None:
    """Run ``git *args`` in ``cwd`` with a throwaway identity (tests' real repositories)."""
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def fixture_bytes(name: str) -> bytes:
    """Return a real fixture as compact one-line JSON bytes, as Claude Code writes it to stdin."""
    return json.dumps(load_fixture(name), separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at tests.aggregator.support.T0 until the test moves it."""
    return ManualClock()


@pytest.fixture
def publisher(broker: LocalBroker) -> Iterator[Publisher]:
    """A paho publisher on the shared broker; clears its retained topics afterwards."""
    pub = Publisher(broker)
    yield pub
    pub.close()


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """A CLI run (CliRunner) points root logging at its own stream; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
