"""`sessionbeat statusline` with the real status-line inputs (a real process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from sessionbeat.claude_code.statusline import StatusLineReading, parse_statusline
from sessionbeat.publisher.ipc import EventKind, IpcServer
from sessionbeat.publisher.statusline import default_line, run_chained, save_chains
from tests.conftest import RECORDINGS, fixture_path, short_tmpdir
from tests.publisher.test_hook import Collector

SCRIPT = Path(sys.executable).parent / "sessionbeat"
HEAVY = ("paho", "pydantic", "typer", "rich", "platformdirs", "psutil")


def run(data: bytes, state: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state))
    return subprocess.run(
        [str(SCRIPT), "statusline", *args], input=data, env=env, capture_output=True, timeout=30
    )


def old_statusline(state: Path, name: str, text: str) -> str:
    """Write a shell status-line script that prints ``text`` and the byte count of stdin."""
    script = state / name
    script.write_text(f"#!/bin/sh\nprintf '\\033[1m%s\\033[0m {text}' \"$(wc -c)\"\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("statusline-1.json", "Sonnet 4 · ccusage"),
        ("statusline-2.json", "Opus 4.6 · ctx 23% · voter-api"),
        ("statusline-3.json", "Opus 4.6 · voter-api"),
        ("statusline-4.json", "Opus 5 · ctx 32% · alpha"),
    ],
)
def test_default_line_of_real_inputs(name: str, line: str) -> None:
    """Without a chained line, the model, context % and repo of each real input are shown."""
    assert default_line(parse_statusline(fixture_path(name).read_bytes())) == line


def test_an_empty_reading_prints_the_name() -> None:
    """An input that names nothing still prints a line: 'sessionbeat'."""
    assert default_line(StatusLineReading()) == "sessionbeat"


def test_publishes_to_the_agent_and_prints_its_own_line() -> None:
    """Without a chained command: the reading reaches the agent and a compact line is shown."""
    state = short_tmpdir()
    got = Collector()
    server = IpcServer(state, got.on_event, got.errors.append, transport="unix")
    server.start()
    data = (RECORDINGS / "statusline-4.json").read_bytes()
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
    script = old_statusline(state, "old.sh", "\\342\\234\\223")
    save_chains({"k1": {"settings": "/s.json", "previous": {"command": script}}}, str(state))
    data = (RECORDINGS / "statusline-2.json").read_bytes()
    expected = subprocess.run([script], input=data, capture_output=True).stdout
    result = run(data, state, "--chain", "k1")
    assert result.returncode == 0
    assert result.stdout == expected
    assert result.stdout.endswith("\u2713".encode())
    assert str(len(data)).encode() in result.stdout  # it read the very same stdin


def test_each_settings_file_chains_its_own_previous_line() -> None:
    """Two installs (user and project file) each run the line they replaced, by key."""
    state = short_tmpdir()
    user = old_statusline(state, "user.sh", "user")
    proj = old_statusline(state, "proj.sh", "project")
    save_chains(
        {
            "u": {"settings": "/home/k/.claude/settings.json", "previous": {"command": user}},
            "p": {"settings": "/w/app/.claude/settings.json", "previous": {"command": proj}},
        },
        str(state),
    )
    data = (RECORDINGS / "statusline-2.json").read_bytes()
    assert run(data, state, "--chain", "u").stdout.endswith(b" user")
    assert run(data, state, "--chain=p").stdout.endswith(b" project")
    # Unknown key, or no key with two chains: nothing to guess, our own line.
    assert run(data, state, "--chain", "zz").stdout == "Opus 4.6 · ctx 23% · voter-api\n".encode()
    assert run(data, state).stdout == "Opus 4.6 · ctx 23% · voter-api\n".encode()


def test_garbage_input_still_prints_a_line() -> None:
    """Non-JSON input never breaks the status line."""
    result = run(b"\x00not json", short_tmpdir())
    assert (result.returncode, result.stdout) == (0, b"sessionbeat\n")


def test_a_hanging_chained_command_is_killed_with_its_children(tmp_path: Path) -> None:
    """A previous status line that never ends is killed, background children included."""
    pids = tmp_path / "pids"
    command = f"sleep 300 & echo $$ $! > {pids}; wait"
    assert run_chained(command, b"{}", timeout=0.5) is None
    procs = []
    for pid in map(int, pids.read_text().split()):
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    # SIGKILL is delivered asynchronously: give the kernel a moment to reap the group.
    _, alive = psutil.wait_procs(procs, timeout=10)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []


def test_chained_command_gets_stdin_and_gives_its_exit_code() -> None:
    """The chained command reads the status-line bytes; its output and exit code come back."""
    assert run_chained("printf x; exit 3", b"") == (b"x", 3)
    assert run_chained("cat", b"same bytes") == (b"same bytes", 0)


def test_statusline_path_imports_no_heavy_module() -> None:
    """The status-line fast path loads none of typer, pydantic, paho, psutil or platformdirs."""
    code = (
        "import sys; sys.argv = ['sessionbeat', 'statusline'];"
        "from sessionbeat._entry import main; main();"
        f"print('|' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(short_tmpdir()))
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=b"",
        capture_output=True,
        env=env,
        check=True,
    )
    assert out.stdout.decode().rsplit("|", 1)[1].strip() == ""


def test_help_goes_to_the_typer_command() -> None:
    """`sessionbeat statusline --help` shows the command's help instead of reading stdin."""
    result = subprocess.run(
        [str(SCRIPT), "statusline", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert "--chain" in result.stdout


def test_typer_command_runs_the_same_status_line() -> None:
    """`statusline` through the typer app (CliRunner) reads stdin and prints the same line."""
    from typer.testing import CliRunner

    from sessionbeat.cli import app

    data = (RECORDINGS / "statusline-2.json").read_bytes()
    result = CliRunner().invoke(app, ["statusline"], input=data)
    assert result.exit_code == 0
    assert result.stdout == "Opus 4.6 · ctx 23% · voter-api\n"
