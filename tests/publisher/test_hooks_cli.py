"""`sessionbeat hooks install/uninstall` on the settings files people really have."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionbeat.cli import app
from sessionbeat.publisher.claude_settings import HOOK_EVENTS, installed_events

SCRIPT = "/opt/venvs/sessionbeat/bin/sessionbeat"

# Shapes from the Claude Code hooks documentation (docs/claude-code-formats.md section 2) and
# the logging-hook set-ups the real fixtures came from (tests/fixtures/claude-code/README.md).
OTHER_HOOKS: dict[str, Any] = {
    "permissions": {"allow": ["Bash(npm test:*)"]},
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "uv run .claude/hooks/pre_tool_use.py"}],
            }
        ],
        "Stop": [
            {"hooks": [{"type": "command", "command": "uv run .claude/hooks/stop.py --chat"}]}
        ],
    },
}
WITH_STATUSLINE: dict[str, Any] = {
    "model": "opus",
    "statusLine": {"type": "command", "command": "bun x ccusage statusline", "padding": 0},
}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def write(path: Path, data: Any) -> str:
    text = json.dumps(data, indent=2) + "\n" if data is not None else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


@pytest.mark.parametrize(
    "original", [None, {}, OTHER_HOOKS, WITH_STATUSLINE], ids=["none", "empty", "hooks", "line"]
)
def test_install_then_uninstall_restores_the_file(tmp_path: Path, original: Any) -> None:
    """Install adds our absolute-path hook everywhere, keeps the rest; uninstall restores."""
    path = tmp_path / "settings.json"
    if original is not None:
        write(path, original)
    result = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    assert result.exit_code == 0, result.output
    data = json.loads(path.read_text())
    assert sorted(installed_events(data)) == sorted(HOOK_EVENTS)
    handler = data["hooks"]["PreToolUse"][-1]["hooks"][0]
    assert handler == {
        "type": "command",
        "command": f"{SCRIPT} publish",
        "async": True,
        "timeout": 5,
    }
    assert data["hooks"]["SessionEnd"][-1]["hooks"][0].get("async") is None
    for key, value in (original or {}).items():
        if key != "hooks":
            assert data[key] == value
    for event, groups in (original or {}).get("hooks", {}).items():
        assert data["hooks"][event][: len(groups)] == groups  # theirs first, untouched
    invoke("hooks", "uninstall", "--settings", str(path))
    after = json.loads(path.read_text())
    assert after == (original or {})


def test_install_is_idempotent_and_keeps_a_backup(tmp_path: Path) -> None:
    """A second install changes nothing; the first one backed up the previous file."""
    path = tmp_path / "settings.json"
    before = write(path, OTHER_HOOKS)
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    once = path.read_text()
    result = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    assert "already installed" in result.output
    assert path.read_text() == once
    backups = list(tmp_path.glob("settings.json.sessionbeat-*.bak"))
    assert [b.read_text() for b in backups] == [before]


def test_moved_install_replaces_the_old_command(tmp_path: Path) -> None:
    """Installing from another venv replaces our old handlers instead of adding a second."""
    path = tmp_path / "settings.json"
    invoke("hooks", "install", "--settings", str(path), "--script", "/old/bin/sessionbeat")
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    groups = json.loads(path.read_text())["hooks"]["Stop"]
    assert [g["hooks"][0]["command"] for g in groups] == [f"{SCRIPT} publish"]


def test_dry_run_prints_a_diff_and_writes_nothing(tmp_path: Path) -> None:
    """--dry-run shows the change as a unified diff and leaves the file alone."""
    path = tmp_path / "settings.json"
    before = write(path, WITH_STATUSLINE)
    result = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--dry-run")
    assert result.exit_code == 0
    assert result.output.startswith("---")
    assert f'"command": "{SCRIPT} publish",' in result.output
    assert path.read_text() == before


def test_statusline_is_chained_and_restored(tmp_path: Path) -> None:
    """--statusline puts ours in place, remembers theirs for chaining, uninstall restores it."""
    path = tmp_path / "settings.json"
    write(path, WITH_STATUSLINE)
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--statusline")
    data = json.loads(path.read_text())
    assert data["statusLine"]["command"] == f"{SCRIPT} statusline"
    assert data["statusLine"]["padding"] == 0
    chain = json.loads((Path(os.environ["SESSIONBEAT_STATE_DIR"]) / "statusline.json").read_text())
    assert chain["previous"] == WITH_STATUSLINE["statusLine"]
    invoke("hooks", "uninstall", "--settings", str(path))
    assert json.loads(path.read_text()) == WITH_STATUSLINE


def test_unreadable_settings_are_never_overwritten(tmp_path: Path) -> None:
    """A settings file that is not JSON stops the install with a clear error (exit 2)."""
    path = tmp_path / "settings.json"
    path.write_text("{ this is not json")
    result = CliRunner().invoke(app, ["hooks", "install", "--settings", str(path)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    assert path.read_text() == "{ this is not json"


def test_default_target_honours_claude_config_dir(isolated_env: Path) -> None:
    """Without --settings, the user file in $CLAUDE_CONFIG_DIR is edited."""
    invoke("hooks", "install", "--script", SCRIPT)
    path = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    assert installed_events(json.loads(path.read_text())) == list(HOOK_EVENTS)
    assert invoke("hooks", "status").exit_code == 0
