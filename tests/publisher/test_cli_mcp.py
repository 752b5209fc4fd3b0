"""`sessionbeat hooks install/uninstall/status --mcp`: our MCP server in Claude Code's config."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionbeat.claude_code.mcp_config import lock_path
from sessionbeat.cli import app
from tests.claude_code.test_mcp_config import GLOBAL_CONFIG

SCRIPT = "/opt/venvs/sessionbeat/bin/sessionbeat"
OURS = {
    "type": "stdio",
    "command": SCRIPT,
    "args": ["mcp"],
    "env": {"SESSIONBEAT_API_URL": "http://127.0.0.1:8787"},
}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def global_config() -> Path:
    """Claude Code's global config under the tests' CLAUDE_CONFIG_DIR."""
    return Path(os.environ["CLAUDE_CONFIG_DIR"]) / ".claude.json"


def write(path: Path, data: Any, mode: int = 0o600) -> str:
    text = json.dumps(data, indent=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return text


def test_install_registers_the_server_and_keeps_claude_codes_state() -> None:
    """--mcp adds mcpServers.sessionbeat to $CLAUDE_CONFIG_DIR/.claude.json, nothing else."""
    path = global_config()
    write(path, GLOBAL_CONFIG)
    result = invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    assert data["mcpServers"] == {**GLOBAL_CONFIG["mcpServers"], "sessionbeat": OURS}
    assert {k: v for k, v in data.items() if k != "mcpServers"} == {
        k: v for k, v in GLOBAL_CONFIG.items() if k != "mcpServers"
    }
    assert list(data) == list(GLOBAL_CONFIG)
    assert not path.read_text().endswith("\n")  # as Claude Code writes it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"registered mcpServers.sessionbeat in {path}: {SCRIPT} mcp" in result.output
    assert not lock_path(path).exists()
    assert (Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json").exists()  # hooks too


def test_without_claude_config_dir_the_file_is_in_the_home(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CLAUDE_CONFIG_DIR unset: ~/.claude.json, created private (0600) when missing."""
    monkeypatch.delenv("CLAUDE_CONFIG_DIR")
    result = invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    assert result.exit_code == 0, result.output
    path = Path.home() / ".claude.json"
    assert json.loads(path.read_text()) == {"mcpServers": {"sessionbeat": OURS}}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (Path.home() / ".claude" / ".claude.json").exists()


def test_the_api_url_of_the_settings_is_written() -> None:
    """The server gets the API URL this host's settings name (flag, env or config file)."""
    invoke("--api-url", "http://kai-server:8787", "hooks", "install", "--mcp", "--script", SCRIPT)
    entry = json.loads(global_config().read_text())["mcpServers"]["sessionbeat"]
    assert entry["env"] == {"SESSIONBEAT_API_URL": "http://kai-server:8787"}


def test_the_token_is_never_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """SESSIONBEAT_API_TOKEN stays out of ~/.claude.json; the server reads it itself."""
    monkeypatch.setenv("SESSIONBEAT_API_TOKEN", "s3cret-token")
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    assert "s3cret-token" not in global_config().read_text()


def test_install_twice_writes_once_and_keeps_one_backup() -> None:
    """A second --mcp install changes nothing; the first backed up the previous file."""
    path = global_config()
    before = write(path, GLOBAL_CONFIG)
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    once = path.read_text()
    result = invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    assert "is registered already, nothing to change" in result.output
    assert path.read_text() == once
    backups = list(path.parent.glob(".claude.json.sessionbeat-*.bak"))
    assert [b.read_text() for b in backups] == [before]
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600


def test_a_moved_install_replaces_the_command() -> None:
    """Installing from another venv points the one entry at the new script."""
    invoke("hooks", "install", "--mcp", "--script", "/old/bin/sessionbeat")
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    servers = json.loads(global_config().read_text())["mcpServers"]
    assert servers == {"sessionbeat": OURS}


def test_dry_run_prints_the_entry_and_writes_nothing() -> None:
    """--dry-run shows the entry it would write (not the file) and leaves both files alone."""
    path = global_config()
    before = write(path, GLOBAL_CONFIG)
    result = invoke("hooks", "install", "--mcp", "--dry-run", "--script", SCRIPT)
    assert result.exit_code == 0, result.output
    shown = result.stdout.split(f"would write mcpServers.sessionbeat in {path}:\n", 1)[1]
    assert json.loads(shown) == {"sessionbeat": OURS}
    assert "sk-test-123" not in result.output  # the rest of the file is not printed
    assert path.read_text() == before
    assert not (path.parent / "settings.json").exists()
    settings = path.parent / "settings.json"
    assert result.stderr.splitlines() == [f"dry run: nothing written to {settings} or {path}"]


@pytest.mark.parametrize(
    "text", ["{ not json", "[1, 2]", '{"mcpServers": []}'], ids=["broken", "list", "servers"]
)
def test_a_config_it_cannot_read_is_refused_and_kept(text: str) -> None:
    """A .claude.json that is not a valid config stops install (exit 2); nothing is written."""
    path = global_config()
    path.write_text(text)
    result = invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    assert result.exit_code == 2
    assert str(path) in result.output
    assert path.read_text() == text
    assert not (path.parent / "settings.json").exists()  # the hooks wait for a fixed file
    assert not lock_path(path).exists()
    assert list(path.parent.glob("*.bak")) == []


def test_a_symlinked_config_is_written_through() -> None:
    """A dotfiles-managed ~/.claude.json (a symlink) stays a link to the edited file."""
    real = Path.home() / "dotfiles" / "claude.json"
    write(real, GLOBAL_CONFIG)
    path = global_config()
    path.symlink_to(real)
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    assert path.is_symlink()
    assert json.loads(real.read_text())["mcpServers"]["sessionbeat"] == OURS


def test_uninstall_with_mcp_removes_only_our_server() -> None:
    """With --mcp, uninstall takes our entry out; other servers and keys stay as they were."""
    path = global_config()
    write(path, GLOBAL_CONFIG)
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    result = invoke("hooks", "uninstall", "--mcp")
    assert result.exit_code == 0, result.output
    assert f"removed mcpServers.sessionbeat in {path}" in result.output
    assert json.loads(path.read_text()) == GLOBAL_CONFIG
    again = invoke("hooks", "uninstall", "--mcp")
    assert "is not registered already, nothing to change" in again.output


def test_uninstall_without_mcp_leaves_the_server_registered() -> None:
    """~/.claude.json is only ever written with --mcp."""
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    once = global_config().read_text()
    invoke("hooks", "uninstall")
    assert global_config().read_text() == once


def test_uninstall_dry_run_names_both_files() -> None:
    """Uninstalling with --mcp --dry-run says what it would remove and writes nothing."""
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    path = global_config()
    once = path.read_text()
    result = invoke("hooks", "uninstall", "--mcp", "--dry-run")
    assert f"would remove mcpServers.sessionbeat in {path}" in result.stdout
    assert result.stderr.splitlines()[-1].endswith(f" or {path}")
    assert path.read_text() == once


def test_status_says_whether_the_server_is_registered() -> None:
    """`hooks status` has a line for the MCP server: registered with its command, or how to."""
    invoke("hooks", "install", "--script", SCRIPT)
    path = global_config()
    before = invoke("hooks", "status")
    assert f"MCP server: not registered in {path} (sessionbeat hooks install --mcp)" in (
        before.output
    )
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    after = invoke("hooks", "status")
    assert after.exit_code == 0
    assert f"MCP server: registered in {path}: {SCRIPT} mcp" in after.output
    path.write_text("{ broken")
    assert "MCP server: unknown" in invoke("hooks", "status").output


def test_install_allows_the_read_only_tools_and_uninstall_takes_only_that_back() -> None:
    """--mcp adds `mcp__sessionbeat` to permissions.allow once; uninstall --mcp removes it."""
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    write(settings, {"permissions": {"allow": ["Bash(git status)"], "deny": ["Read(.env)"]}})
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    invoke("hooks", "install", "--mcp", "--script", SCRIPT)
    permissions = json.loads(settings.read_text())["permissions"]
    assert permissions == {
        "allow": ["Bash(git status)", "mcp__sessionbeat"],
        "deny": ["Read(.env)"],
    }
    invoke("hooks", "uninstall", "--mcp")
    assert json.loads(settings.read_text())["permissions"] == {
        "allow": ["Bash(git status)"],
        "deny": ["Read(.env)"],
    }


def test_install_without_mcp_allows_nothing() -> None:
    """Plain `hooks install` writes no permission rule."""
    invoke("hooks", "install", "--script", SCRIPT)
    settings = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    assert "permissions" not in json.loads(settings.read_text())
