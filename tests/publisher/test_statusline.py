"""`sessionbeat statusline` with the real status-line inputs (a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessionbeat.publisher.ipc import EventKind, IpcServer
from sessionbeat.publisher.statusline import default_line, parse_statusline
from tests.conftest import FIXTURES, short_tmpdir
from tests.publisher.test_hook import Collector

SCRIPT = Path(sys.executable).parent / "sessionbeat"


def run(data: bytes, state: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state))
    return subprocess.run(
        [str(SCRIPT), "statusline"], input=data, env=env, capture_output=True, timeout=30
    )


@pytest.mark.parametrize(
    ("name", "tokens", "size", "line"),
    [
        ("statusline-1.json", None, None, "Sonnet 4 · ccusage"),
        ("statusline-2.json", 46_083, 200_000, "Opus 4.6 · ctx 23% · voter-api"),
        ("statusline-3.json", None, 200_000, "Opus 4.6 · voter-api"),
        ("statusline-4.json", 318_156, 1_000_000, "Opus 5 · ctx 32% · alpha"),
    ],
)
def test_parse_real_inputs(name: str, tokens: int | None, size: int | None, line: str) -> None:
    """Context comes from current_usage (never the cumulative total_input_tokens)."""
    reading = parse_statusline((FIXTURES / name).read_bytes())
    assert reading is not None
    assert (reading.context_tokens, reading.context_window_size) == (tokens, size)
    assert default_line(reading) == line


def test_publishes_to_the_agent_and_prints_its_own_line() -> None:
    """Without a chained command: the reading reaches the agent and a compact line is shown."""
    state = short_tmpdir()
    got = Collector()
    server = IpcServer(state, got.on_event, got.errors.append, transport="unix")
    server.start()
    data = (FIXTURES / "statusline-4.json").read_bytes()
    try:
        result = run(data, state)
        assert got.arrived.wait(5)
    finally:
        server.stop()
    assert result.returncode == 0
    assert result.stdout == "Opus 5 · ctx 32% · alpha\n".encode()
    assert got.events[0].kind is EventKind.STATUSLINE
    assert got.events[0].raw == data


def test_chained_command_output_passes_through_byte_for_byte() -> None:
    """The user's previous status line gets the same stdin; its bytes come out unchanged."""
    state = short_tmpdir()
    script = state / "old-statusline.sh"
    script.write_text("#!/bin/sh\nprintf '\\033[1m%s\\033[0m \\342\\234\\223' \"$(wc -c)\"\n")
    script.chmod(0o755)
    (state / "statusline.json").write_text(
        json.dumps({"previous": {"type": "command", "command": str(script), "padding": 0}})
    )
    data = (FIXTURES / "statusline-2.json").read_bytes()
    expected = subprocess.run([str(script)], input=data, capture_output=True).stdout
    result = run(data, state)
    assert result.returncode == 0
    assert result.stdout == expected
    assert result.stdout.endswith("\u2713".encode())
    assert str(len(data)).encode() in result.stdout  # it read the very same stdin


def test_garbage_input_still_prints_a_line() -> None:
    """Non-JSON input never breaks the status line."""
    result = run(b"\x00not json", short_tmpdir())
    assert (result.returncode, result.stdout) == (0, b"sessionbeat\n")
