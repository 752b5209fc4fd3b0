"""Claude Code's session registry and its pid-reuse guard (claude_code/registry.py).

Most registry documents here follow the fields reported for Claude Code 2.1.2xx in
herdrdev/herdr#3414 (docs/claude-code-formats.md section 7), built here and said so; one is a
real file Claude Code 2.1.328 wrote (tests/fixtures/claude-code/real-2.1.328). The processes
are real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest

from sessionbeat.claude_code.registry import (
    entry_alive,
    linux_proc_start,
    lstart_epoch,
    parse_entry,
    scan_registry,
)
from sessionbeat.publisher.liveness import ProcessRef, is_alive
from tests.conftest import load_fixture
from tests.procs import wait_until

LINUX = sys.platform.startswith("linux")


@pytest.fixture
def claude() -> Iterator[subprocess.Popen[bytes]]:
    """A real long-running process standing in for Claude Code."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def write_entry(directory: Path, pid: int, filename: str | None = None, **fields: object) -> None:
    """Write ``sessions/<pid>.json`` with the 2.1.2xx fields; ``None`` values drop a key."""
    (directory / "sessions").mkdir(parents=True, exist_ok=True)
    doc = {
        "pid": pid,
        "sessionId": f"s-{pid}",
        "cwd": "/work/x",
        "startedAt": 1_790_000_000_000,
        "procStart": "12345",
        "version": "2.1.232",
        "kind": "interactive",
        "entrypoint": "cli",
        "status": "busy",
        "statusUpdatedAt": 1_790_000_100_000,
        "updatedAt": 1_790_000_050_000,
        "pidDomain": "host",
        "messagingSocketPath": f"/tmp/claude-{pid}.sock",
        **fields,
    }
    doc = {k: v for k, v in doc.items() if v is not None}
    (directory / "sessions" / (filename or f"{pid}.json")).write_text(json.dumps(doc))


def lstart(epoch: float) -> str:
    """``ps -o lstart=`` under LC_ALL=C TZ=UTC, as Claude Code on macOS writes procStart."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%a %b %e %H:%M:%S %Y")


def test_scan_reads_current_entries_and_gates_the_rest(tmp_path: Path) -> None:
    """Current entries are read; SDK (no status), legacy pid-N, junk and partial files are not."""
    write_entry(tmp_path, 4242, status="waiting", name="Wire the retry budget")
    write_entry(tmp_path, 4343, status="shell")
    write_entry(tmp_path, 4444, status=None)  # SDK session: never writes status
    write_entry(tmp_path, 4545, procStart=None)  # no pid-reuse guard: not trusted
    (tmp_path / "sessions" / "pid-77.json").write_text(
        json.dumps({"session_id": "old", "cwd": "/w"})
    )
    (tmp_path / "sessions" / "88.json").write_text("{not json")
    (tmp_path / "sessions" / "89.json").write_text('{"pid": 89, "sessionId": "half-writ')
    (tmp_path / "sessions" / "99.json").write_text(json.dumps({"pid": 99}))
    entries = scan_registry(tmp_path)
    assert [e.session_id for e in entries] == ["s-4242", "s-4343"]
    first = entries[0]
    assert (first.status, first.name, first.entrypoint) == (
        "waiting",
        "Wire the retry budget",
        "cli",
    )
    assert first.started_at == datetime.fromtimestamp(1_790_000_000, UTC)
    assert first.status_at == datetime.fromtimestamp(1_790_000_100, UTC)  # statusUpdatedAt
    assert entries[1].status == "shell"  # kept raw; the status table maps it to unknown
    assert scan_registry(tmp_path / "missing") == []


def test_lenient_values(tmp_path: Path) -> None:
    """A null status, an ISO start time, a numeric procStart and no pid field still work."""
    (tmp_path / "sessions").mkdir()
    doc = {
        "sessionId": "s-5151",
        "status": None,
        "procStart": 7,
        "startedAt": "2026-11-25T07:00:00Z",
        "updatedAt": "yesterday",
    }
    (tmp_path / "sessions" / "5151.json").write_text(json.dumps(doc))
    (entry,) = scan_registry(tmp_path)
    assert (entry.pid, entry.status, entry.proc_start, entry.status_at) == (5151, None, "7", None)
    assert entry.started_at == datetime(2026, 11, 25, 7, tzinfo=UTC)


@pytest.mark.skipif(not LINUX, reason="procStart is /proc field 22 on Linux")
def test_linux_proc_start_guards_against_pid_reuse(
    tmp_path: Path, claude: subprocess.Popen[bytes]
) -> None:
    """The same pid with another start tick count is a different process: not alive."""
    start = linux_proc_start(claude.pid)
    assert start is not None
    assert start.isdigit()
    write_entry(tmp_path, claude.pid, procStart=start)
    (entry,) = scan_registry(tmp_path)
    assert entry_alive(entry)
    write_entry(tmp_path, claude.pid, procStart=str(int(start) + 1))
    (entry,) = scan_registry(tmp_path)
    assert not entry_alive(entry)


def test_macos_lstart_proc_start_guards_against_pid_reuse(
    tmp_path: Path, claude: subprocess.Popen[bytes]
) -> None:
    """A procStart in macOS's `ps -o lstart` form (UTC) is checked against the process start."""
    created = psutil.Process(claude.pid).create_time()
    write_entry(tmp_path, claude.pid, procStart=lstart(created))
    (entry,) = scan_registry(tmp_path)
    assert entry_alive(entry)
    write_entry(tmp_path, claude.pid, procStart=lstart(created - 3600))
    (entry,) = scan_registry(tmp_path)
    assert not entry_alive(entry)


def test_lstart_parsing() -> None:
    """Day-of-month padding and UTC are handled: the real example from marmonitor#71."""
    assert (
        lstart_epoch("Mon Aug 17 05:43:19 2026")
        == datetime(2026, 8, 17, 5, 43, 19, tzinfo=UTC).timestamp()
    )
    assert (
        lstart_epoch("Fri Aug  7 05:43:19 2026")
        == datetime(2026, 8, 7, 5, 43, 19, tzinfo=UTC).timestamp()
    )
    assert lstart_epoch("12345") is None


def test_unknown_proc_start_form_only_needs_the_process(
    tmp_path: Path, claude: subprocess.Popen[bytes]
) -> None:
    """A procStart form not seen yet is not held against a live process."""
    write_entry(tmp_path, claude.pid, procStart="2026-08-17T05:43:19Z")
    (entry,) = scan_registry(tmp_path)
    assert entry_alive(entry)


def test_dead_and_zombie_processes_are_not_alive(
    tmp_path: Path, claude: subprocess.Popen[bytes]
) -> None:
    """A killed process, and one that exited but was not reaped yet, do not count as alive."""
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        proc = psutil.Process(zombie.pid)
        wait_until(lambda: proc.status() == psutil.STATUS_ZOMBIE, 15, 0.01, what="a zombie")
        write_entry(tmp_path / "z", zombie.pid, procStart=lstart(proc.create_time()))
        (entry,) = scan_registry(tmp_path / "z")
        assert not entry_alive(entry)
        assert not is_alive(ProcessRef(zombie.pid, None))
    finally:
        zombie.wait()
    write_entry(
        tmp_path / "k", claude.pid, procStart=lstart(psutil.Process(claude.pid).create_time())
    )
    (entry,) = scan_registry(tmp_path / "k")
    assert entry_alive(entry)
    claude.kill()
    claude.wait()
    assert not entry_alive(entry)


def test_a_real_2_1_328_entry_at_the_permission_prompt() -> None:
    """The registry file Claude Code 2.1.328 wrote while waiting: every field we use is read."""
    data = load_fixture("real-2.1.328/registry-waiting.json")
    entry = parse_entry(data, 1)
    assert entry is not None
    assert (entry.status, entry.waiting_for, entry.tmux, entry.name) == (
        "waiting",
        "permission prompt",
        "claude:@0.%0",
        "demo-41",
    )
    assert (entry.version, entry.entrypoint, entry.pid) == ("2.1.328", "cli", 24372)
    assert entry.status_at == datetime.fromtimestamp(1796135474.114, UTC)
