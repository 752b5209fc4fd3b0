"""The hook fast path: `sessionbeat publish` as Claude Code runs it (a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import platformdirs
import pytest

from sessionbeat.publisher import hook
from sessionbeat.publisher.ipc import EventKind, HostEvent, IpcServer, Refusal, read_inbox
from tests.conftest import fixture_bytes, short_tmpdir

SCRIPT = Path(sys.executable).parent / "sessionbeat"
HEAVY = ("paho", "pydantic", "typer", "rich", "json", "socket", "platformdirs")


def run_publish(payload: bytes, state_dir: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    """Run the installed console script like a Claude Code hook (stdin piped, no TTY)."""
    environ = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state_dir), **env)
    return subprocess.run(
        [str(SCRIPT), "publish"], input=payload, capture_output=True, env=environ, timeout=30
    )


class Collector:
    """Collects the events an IpcServer receives."""

    def __init__(self) -> None:
        self.events: list[HostEvent] = []
        self.errors: list[str] = []
        self.refusals: list[Refusal] = []
        self.arrived = threading.Event()

    def on_event(self, event: HostEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    def on_error(self, refusal: Refusal, detail: str) -> None:
        self.errors.append(detail)
        self.refusals.append(refusal)


def test_state_dir_matches_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook finds the same state dir as the agent without importing platformdirs."""
    monkeypatch.delenv("SESSIONBEAT_STATE_DIR")
    expected = platformdirs.user_state_dir("sessionbeat", appauthor=False)
    assert hook.state_dir() == expected
    monkeypatch.setenv("XDG_STATE_HOME", "")
    assert hook.state_dir() == platformdirs.user_state_dir("sessionbeat", appauthor=False)


def test_hook_path_imports_no_heavy_module() -> None:
    """Running the hook module loads none of paho, pydantic, typer, rich, json or socket.py."""
    code = (
        "import sys, sessionbeat._entry, sessionbeat.publisher.hook as h;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_delivers_to_a_running_agent_socket() -> None:
    """With an agent listening, publish hands over the raw bytes and the process tree."""
    state = short_tmpdir()
    got = Collector()
    server = IpcServer(state, got.on_event, got.on_error, transport="unix")
    server.start()
    try:
        payload = fixture_bytes("hook-PreToolUse-3.json")
        result = run_publish(payload, state)
        assert got.arrived.wait(5)
    finally:
        server.stop()
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
    event = got.events[0]
    assert event.kind is EventKind.HOOK and event.raw == payload
    assert event.ppid == os.getpid()  # the hook's parent: this test process
    assert abs(event.time_ns - time.time_ns()) < 60e9
    assert not (state / "inbox").exists()


def test_delivers_over_loopback_tcp_with_token() -> None:
    """Where Unix sockets are not used, publish finds the agent's TCP port and token."""
    state = short_tmpdir()
    got = Collector()
    server = IpcServer(state, got.on_event, got.on_error, transport="tcp")
    server.start()
    try:
        result = run_publish(b'{"session_id":"s1"}', state, SESSIONBEAT_AGENT_TRANSPORT="tcp")
        assert got.arrived.wait(5)
        port, token = (state / "agent.tcp").read_text().split()
        assert (state / "agent.tcp").stat().st_mode & 0o077 == 0  # readable by the user only
    finally:
        server.stop()
    assert result.returncode == 0
    assert got.events[0].raw == b'{"session_id":"s1"}'
    assert len(token) == 32 and int(port) > 0


def test_wrong_token_is_rejected_and_counted() -> None:
    """A frame with a wrong token never reaches the agent and is reported as an error."""
    state = short_tmpdir()
    got = Collector()
    server = IpcServer(state, got.on_event, got.on_error, transport="tcp")
    server.start()
    try:
        port, _token = (state / "agent.tcp").read_text().split()
        (state / "agent.tcp").write_text(f"{port} {'0' * 32}\n")
        result = run_publish(b'{"session_id":"s1"}', state, SESSIONBEAT_AGENT_TRANSPORT="tcp")
    finally:
        server.stop()
    assert result.returncode == 0
    assert got.events == [] and got.errors == ["wrong token"]
    # Not acknowledged, so the hook kept the event in the inbox: nothing is lost.
    assert [e.raw for e in read_inbox(state / "inbox")] == [b'{"session_id":"s1"}']


def test_without_agent_the_event_waits_in_the_inbox() -> None:
    """No agent: publish exits 0 at once, silently, and leaves the event in the inbox."""
    state = short_tmpdir()
    payload = fixture_bytes("hook-SessionStart-1.json")
    started = time.monotonic()
    result = run_publish(payload, state)
    elapsed = time.monotonic() - started
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
    assert elapsed < 1.5  # the bar: never blocks Claude Code
    events = read_inbox(state / "inbox")
    assert [e.raw for e in events] == [payload]


@pytest.mark.parametrize(
    "payload",
    [b"", b"   \n", b"not json at all", b"\xff\xfe\x00garbage", b'{"no_session": 1}'],
)
def test_odd_input_never_fails_the_hook(payload: bytes) -> None:
    """Empty, non-JSON or binary stdin: exit 0, nothing on stdout or stderr."""
    result = run_publish(payload, short_tmpdir())
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_unwritable_state_dir_still_exits_zero() -> None:
    """Even when nothing can be written, the hook exits 0 and prints nothing."""
    result = run_publish(b'{"session_id":"s1"}', Path("/proc/sessionbeat-cannot-exist"))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_disable_switch_skips_everything() -> None:
    """SESSIONBEAT_DISABLE=1 turns the hook into a no-op."""
    state = short_tmpdir()
    result = run_publish(b'{"session_id":"s1"}', state, SESSIONBEAT_DISABLE="1")
    assert result.returncode == 0
    assert not (state / "inbox").exists()


def test_an_input_over_the_limit_is_not_delivered_at_all() -> None:
    """Over MAX_INPUT: nothing cut reaches the agent or the inbox; the agent counts a refusal."""
    state = short_tmpdir()
    got = Collector()
    server = IpcServer(state, got.on_event, got.on_error, transport="unix")
    server.start()
    payload = b'{"session_id":"s1","pad":"' + b"x" * hook.MAX_INPUT + b'"}'
    try:
        result = run_publish(payload, state)
    finally:
        server.stop()
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    assert got.events == [] and got.refusals == [Refusal.TOO_LARGE]
    assert not (state / "inbox").exists()
    assert "not delivered" in (state / "hook-errors.log").read_text()
