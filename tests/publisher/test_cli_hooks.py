"""`sessionbeat hooks install/uninstall` on the settings files people really have."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionbeat.claude_code.events import INSTALLED_EVENTS
from sessionbeat.claude_code.settings_file import installed_events
from sessionbeat.cli import app
from sessionbeat.publisher.statusline import chain_key, load_chains, previous_command

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
    assert sorted(installed_events(data)) == sorted(INSTALLED_EVENTS)
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
    if original is None:
        assert not path.exists()  # created by install, removed again
    else:
        assert json.loads(path.read_text()) == original


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


def test_dry_run_ends_by_saying_nothing_was_written(tmp_path: Path) -> None:
    """--dry-run's last line says nothing was written to the file; stdout stays a clean diff."""
    path = tmp_path / "settings.json"
    write(path, WITH_STATUSLINE)
    result = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--dry-run")
    note = f"dry run: nothing written to {path}"
    assert result.output.splitlines()[-1] == note
    assert result.stderr.splitlines() == [note]
    assert note not in result.stdout
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    again = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--dry-run")
    assert again.output.splitlines() == ["no change", note]
    removal = invoke("hooks", "uninstall", "--settings", str(path), "--dry-run")
    assert removal.output.splitlines()[-1] == note


def chains() -> dict[str, Any]:
    """The recorded previous status lines (the state dir's statusline.json)."""
    return load_chains(os.environ["SESSIONBEAT_STATE_DIR"])


def test_statusline_is_chained_and_restored(tmp_path: Path) -> None:
    """--statusline puts ours in place, remembers theirs for chaining, uninstall restores it."""
    path = tmp_path / "settings.json"
    write(path, WITH_STATUSLINE)
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--statusline")
    data = json.loads(path.read_text())
    key = chain_key(str(path))
    assert data["statusLine"] == {
        "type": "command",
        "command": f"{SCRIPT} statusline --chain {key}",
        "padding": 0,
        "refreshInterval": 10,
    }
    assert chains()[key]["previous"] == WITH_STATUSLINE["statusLine"]
    invoke("hooks", "uninstall", "--settings", str(path))
    assert json.loads(path.read_text()) == WITH_STATUSLINE
    assert chains() == {}


def test_user_and_project_files_keep_their_own_status_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chaining in two settings files records two previous lines; each uninstall gets its own."""
    user = Path(os.environ["CLAUDE_CONFIG_DIR"]) / "settings.json"
    write(user, WITH_STATUSLINE)
    project_line = {"statusLine": {"type": "command", "command": "~/.claude/line.sh"}}
    monkeypatch.chdir(tmp_path)
    project = tmp_path / ".claude" / "settings.json"
    write(project, project_line)
    invoke("hooks", "install", "--script", SCRIPT, "--statusline")
    invoke("hooks", "install", "--project", "--script", SCRIPT, "--statusline")
    user_cmd = json.loads(user.read_text())["statusLine"]["command"]
    project_cmd = json.loads(project.read_text())["statusLine"]["command"]
    assert user_cmd != project_cmd
    assert previous_command(user_cmd.rsplit(" ", 1)[1]) == "bun x ccusage statusline"
    assert previous_command(project_cmd.rsplit(" ", 1)[1]) == "~/.claude/line.sh"
    invoke("hooks", "uninstall")
    assert json.loads(user.read_text()) == WITH_STATUSLINE
    invoke("hooks", "uninstall", "--project")
    assert json.loads(project.read_text()) == project_line


def test_no_statusline_restores_the_previous_line(tmp_path: Path) -> None:
    """--no-statusline takes our line out again and keeps the hooks."""
    path = tmp_path / "settings.json"
    write(path, WITH_STATUSLINE)
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--statusline")
    result = invoke(
        "hooks", "install", "--settings", str(path), "--script", SCRIPT, "--no-statusline"
    )
    data = json.loads(path.read_text())
    assert "restored" in result.output
    assert data["statusLine"] == WITH_STATUSLINE["statusLine"]
    assert sorted(installed_events(data)) == sorted(INSTALLED_EVENTS)
    # Without either flag a reinstall leaves the status line alone.
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    assert json.loads(path.read_text())["statusLine"] == WITH_STATUSLINE["statusLine"]


def test_moved_install_updates_our_status_line_and_keeps_the_chain(tmp_path: Path) -> None:
    """Reinstalling from another venv points our line at it; the recorded one stays."""
    path = tmp_path / "settings.json"
    write(path, WITH_STATUSLINE)
    old = "/old/bin/sessionbeat"
    invoke("hooks", "install", "--settings", str(path), "--script", old, "--statusline")
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, "--statusline")
    assert json.loads(path.read_text())["statusLine"]["command"].startswith(f"{SCRIPT} ")
    invoke("hooks", "uninstall", "--settings", str(path))
    assert json.loads(path.read_text()) == WITH_STATUSLINE


def test_paths_with_spaces_are_quoted_and_still_recognised(tmp_path: Path) -> None:
    """A venv under a directory with a space gives a quoted command that uninstall finds."""
    path = tmp_path / "settings.json"
    script = "/Users/kai/My Tools/venv/bin/sessionbeat"
    invoke("hooks", "install", "--settings", str(path), "--script", script, "--statusline")
    data = json.loads(path.read_text())
    assert data["hooks"]["Stop"][0]["hooks"][0]["command"] == f"'{script}' publish"
    assert data["statusLine"]["command"].startswith(f"'{script}' statusline --chain ")
    invoke("hooks", "uninstall", "--settings", str(path))
    assert not path.exists()  # install created it; nothing else was ever in it


def test_symlinked_settings_stay_a_symlink_with_their_mode(tmp_path: Path) -> None:
    """A dotfiles-managed settings.json (a symlink, mode 600) is edited in place."""
    real = tmp_path / "dotfiles" / "claude-settings.json"
    before = write(real, OTHER_HOOKS)
    real.chmod(0o600)
    link = tmp_path / "settings.json"
    link.symlink_to(real)
    invoke("hooks", "install", "--settings", str(link), "--script", SCRIPT)
    assert link.is_symlink()
    assert sorted(installed_events(json.loads(real.read_text()))) == sorted(INSTALLED_EVENTS)
    assert real.stat().st_mode & 0o777 == 0o600
    invoke("hooks", "uninstall", "--settings", str(link))
    assert link.is_symlink()
    assert json.loads(real.read_text()) == json.loads(before)


def test_backups_of_quick_successive_runs_do_not_overwrite_each_other(tmp_path: Path) -> None:
    """Install then uninstall within one second keeps both backups, the original among them."""
    path = tmp_path / "settings.json"
    before = write(path, OTHER_HOOKS)
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    installed = path.read_text()
    invoke("hooks", "uninstall", "--settings", str(path))
    backups = sorted(b.read_text() for b in tmp_path.glob("settings.json.sessionbeat-*.bak"))
    assert backups == sorted([before, installed])


def test_uninstall_dry_run_and_nothing_to_remove(tmp_path: Path) -> None:
    """Uninstall --dry-run shows the removal only; uninstalling twice is harmless."""
    path = tmp_path / "settings.json"
    write(path, OTHER_HOOKS)
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    installed = path.read_text()
    result = invoke("hooks", "uninstall", "--settings", str(path), "--dry-run")
    removed = [line for line in result.output.splitlines() if line.startswith("-")]
    assert any(f'"command": "{SCRIPT} publish"' in line for line in removed)
    assert path.read_text() == installed
    invoke("hooks", "uninstall", "--settings", str(path))
    result = invoke("hooks", "uninstall", "--settings", str(path))
    assert "no sessionbeat hooks found" in result.output
    assert json.loads(path.read_text()) == OTHER_HOOKS


def test_hooks_key_of_the_wrong_type_is_a_clear_error(tmp_path: Path) -> None:
    """A settings file whose 'hooks' is not an object stops install (exit 2), unchanged."""
    path = tmp_path / "settings.json"
    before = write(path, {"hooks": ["not", "an", "object"]})
    result = CliRunner().invoke(app, ["hooks", "install", "--settings", str(path)])
    assert result.exit_code == 2
    assert "'hooks' is not an object" in result.output
    assert path.read_text() == before


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
    assert installed_events(json.loads(path.read_text())) == list(INSTALLED_EVENTS)
    assert invoke("hooks", "status").exit_code == 0


def test_windows_script_path_works_in_git_bash(tmp_path: Path) -> None:
    """Claude Code runs Windows hooks in Git Bash: forward slashes, quoted for the space."""
    path = tmp_path / "settings.json"
    script = "C:\\Users\\Oliver Productions\\venv\\Scripts\\sessionbeat.exe"
    invoke("hooks", "install", "--settings", str(path), "--script", script)
    command = json.loads(path.read_text())["hooks"]["Stop"][0]["hooks"][0]["command"]
    assert command == "'C:/Users/Oliver Productions/venv/Scripts/sessionbeat.exe' publish"
    invoke("hooks", "uninstall", "--settings", str(path))
    assert not path.exists()


def test_disabled_hooks_are_pointed_out(tmp_path: Path) -> None:
    """A settings file with disableAllHooks gets our hooks and a warning that none will run."""
    path = tmp_path / "settings.json"
    write(path, {"disableAllHooks": True})
    result = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    assert "disableAllHooks" in result.output


def test_zero_byte_settings_file(tmp_path: Path) -> None:
    """An existing but empty settings.json is treated as {} and comes back as {}."""
    path = tmp_path / "settings.json"
    path.write_text("")
    invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT)
    assert sorted(installed_events(json.loads(path.read_text()))) == sorted(INSTALLED_EVENTS)
    invoke("hooks", "uninstall", "--settings", str(path))
    assert json.loads(path.read_text()) == {}
