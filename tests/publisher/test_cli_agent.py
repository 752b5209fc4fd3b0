"""`sessionbeat agent install/uninstall`: user services for an always-on agent."""

from __future__ import annotations

import os
import plistlib
from pathlib import Path

from typer.testing import CliRunner

from sessionbeat.cli import app
from sessionbeat.publisher.agent_files import console_script


def test_systemd_unit_runs_the_absolute_script_and_restarts(isolated_env: Path) -> None:
    """On Linux a user unit runs `<abs path> agent run`, restarts always, and is removed again."""
    runner = CliRunner()
    result = runner.invoke(app, ["agent", "install", "--platform", "linux"])
    assert result.exit_code == 0, result.output
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / "sessionbeat-agent.service"
    text = unit.read_text()
    assert f"ExecStart={console_script()} agent run" in text
    assert "Restart=always" in text
    assert f"SESSIONBEAT_STATE_DIR={os.environ['SESSIONBEAT_STATE_DIR']}" in text
    assert "systemctl --user enable --now sessionbeat-agent.service" in result.output
    runner.invoke(app, ["agent", "uninstall", "--platform", "linux"])
    assert not unit.exists()


def test_launchd_plist_keeps_the_agent_alive(isolated_env: Path) -> None:
    """On macOS a LaunchAgent plist with RunAtLoad and KeepAlive is written."""
    result = CliRunner().invoke(app, ["agent", "install", "--platform", "darwin"])
    assert result.exit_code == 0, result.output
    path = Path.home() / "Library" / "LaunchAgents" / "dev.sessionbeat.agent.plist"
    plist = plistlib.loads(path.read_bytes())
    assert plist["ProgramArguments"][:3] == [str(console_script()), "agent", "run"]
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] is True


def test_dry_run_writes_nothing(isolated_env: Path) -> None:
    """--dry-run prints the unit and leaves the disk alone."""
    result = CliRunner().invoke(app, ["agent", "install", "--platform", "linux", "--dry-run"])
    assert "[Service]" in result.output
    assert not (Path(os.environ["XDG_CONFIG_HOME"]) / "systemd").exists()


def test_windows_gets_instructions() -> None:
    """On Windows the command explains the Task Scheduler set-up instead."""
    result = CliRunner().invoke(app, ["agent", "install", "--platform", "win32"])
    assert result.exit_code == 0
    assert "Task Scheduler" in result.output
