"""Claude Code's session registry and process liveness (registry.py, liveness.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessionbeat.publisher.liveness import find_claude_process, is_alive
from sessionbeat.publisher.registry import entry_alive, linux_proc_start, scan_registry

LINUX = sys.platform.startswith("linux")


def write_entry(directory: Path, pid: int, **fields: object) -> None:
    (directory / "sessions").mkdir(parents=True, exist_ok=True)
    doc = {
        "pid": pid,
        "sessionId": f"s-{pid}",
        "cwd": "/work/x",
        "startedAt": 1_790_000_000_000,
        "version": "2.1.232",
        "kind": "interactive",
        "status": "busy",
        "updatedAt": 1_790_000_100_000,
        **fields,
    }
    (directory / "sessions" / f"{pid}.json").write_text(json.dumps(doc))


def test_scan_reads_live_entries_leniently(tmp_path: Path) -> None:
    """Entries are parsed with their status word; legacy pid-N files and junk are skipped."""
    write_entry(tmp_path, 4242, status="waiting", name="Wire the retry budget")
    write_entry(tmp_path, 4343, status=None, sessionId="sdk-session")  # SDK: no status
    (tmp_path / "sessions" / "pid-77.json").write_text(json.dumps({"sessionId": "old"}))
    (tmp_path / "sessions" / "88.json").write_text("{not json")
    (tmp_path / "sessions" / "99.json").write_text(json.dumps({"pid": 99}))
    entries = {e.session_id: e for e in scan_registry(tmp_path)}
    assert set(entries) == {"s-4242", "sdk-session"}
    assert entries["s-4242"].status == "waiting"
    assert entries["s-4242"].name == "Wire the retry budget"
    assert entries["s-4242"].started_at is not None
    assert entries["sdk-session"].status is None
    assert scan_registry(tmp_path / "missing") == []


@pytest.mark.skipif(not LINUX, reason="procStart is /proc field 22 on Linux")
def test_proc_start_guards_against_pid_reuse(
    tmp_path: Path, claude_process: subprocess.Popen[bytes]
) -> None:
    """The same pid with another start time is a different process: not alive."""
    start = linux_proc_start(claude_process.pid)
    write_entry(tmp_path, claude_process.pid, procStart=start)
    (entry,) = scan_registry(tmp_path)
    assert entry_alive(entry)
    write_entry(tmp_path, claude_process.pid, procStart=str(int(start or 0) + 1))
    (entry,) = scan_registry(tmp_path)
    assert not entry_alive(entry)


def test_dead_process_is_not_alive(tmp_path: Path, claude_process: subprocess.Popen[bytes]) -> None:
    """Once the process is killed its registry entry no longer counts as alive."""
    write_entry(tmp_path, claude_process.pid)
    claude_process.kill()
    claude_process.wait()
    (entry,) = scan_registry(tmp_path)
    assert not entry_alive(entry)


def test_finds_the_first_non_shell_ancestor_of_a_hook(tmp_path: Path) -> None:
    """A hook run through `sh -c` resolves to the process that started the shell."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, json, sys\n"
        "sys.path[:0] = " + repr(sys.path) + "\n"
        "from sessionbeat.publisher.liveness import find_claude_process\n"
        "print(json.dumps(find_claude_process(os.getppid(), 0)))\n"
    )
    out = subprocess.run(
        ["sh", "-c", f"{sys.executable} {probe}; true"], capture_output=True, text=True, check=True
    ).stdout
    pid, created = json.loads(out)
    assert pid == os.getpid()  # sh is skipped: this test process started the shell
    assert is_alive(pid, created)
    assert not is_alive(pid, created - 100)  # another start time: a reused pid


def test_gone_parent_falls_back_to_grandparent() -> None:
    """If the hook's parent already exited, the grandparent the hook reported is used."""
    found = find_claude_process(2**22 + 12345, os.getpid())
    assert found is not None
    assert found[0] == os.getpid()
    assert time.time() - found[1] > 0
