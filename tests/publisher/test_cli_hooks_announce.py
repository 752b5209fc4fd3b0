"""`sessionbeat hooks install --announce`: the SessionStart hook and the agent's setting.

Every test runs in the temporary home of the autouse ``isolated_env`` fixture, whose
``SESSIONBEAT_CONFIG`` names a config file there; the real home is never touched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from sessionbeat.claude_code.events import INSTALLED_EVENTS, SYNC_EVENTS
from sessionbeat.cli import app
from sessionbeat.settings import load_settings

SCRIPT = "/opt/venvs/sessionbeat/bin/sessionbeat"
NOTE = "# set by `sessionbeat hooks install --announce`"
MINE = (
    '# my settings\nbroker_url = "mqtt://mac:pw@kai-server:1883"  # the broker\n\n[extra]\nx = 1\n'
)
"""A config file someone wrote: a comment, a setting with its own comment, a table."""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def config() -> Path:
    """The config file the settings read in this test (``SESSIONBEAT_CONFIG``)."""
    return Path(os.environ["SESSIONBEAT_CONFIG"])


def install(path: Path, *extra: str) -> Any:
    result = invoke("hooks", "install", "--settings", str(path), "--script", SCRIPT, *extra)
    assert result.exit_code == 0, result.output
    return result


def test_install_announce_makes_session_start_ask_and_turns_the_agent_on(tmp_path: Path) -> None:
    """SessionStart runs `publish --announce` synchronously; the rest as before; announce on."""
    settings_json = tmp_path / "settings.json"
    config().write_text(MINE)
    result = install(settings_json, "--announce")
    hooks = json.loads(settings_json.read_text())["hooks"]
    assert hooks["SessionStart"] == [
        {"hooks": [{"type": "command", "command": f"{SCRIPT} publish --announce", "timeout": 2}]}
    ]
    for event in INSTALLED_EVENTS:
        if event != "SessionStart":
            [handler] = hooks[event][0]["hooks"]
            assert handler["command"] == f"{SCRIPT} publish"
            assert handler.get("async") is (None if event in SYNC_EVENTS else True)
    assert config().read_text() == MINE.replace(
        "# the broker\n", f"# the broker\nannounce = true {NOTE}\n"
    )
    assert load_settings().announce is True
    assert f"announce: on in {config()}" in result.output
    assert "restart the agent" in result.output
    status = invoke("hooks", "status", "--settings", str(settings_json))
    assert f"{len(INSTALLED_EVENTS)} events hooked" in status.output
    assert "the agent's announce is on" in status.output


def test_status_says_when_the_hook_asks_but_the_agent_is_off(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """An announcing hook with announce off (here by the environment) is pointed out."""
    settings_json = tmp_path / "settings.json"
    install(settings_json, "--announce")
    monkeypatch.setenv("SESSIONBEAT_ANNOUNCE", "false")
    status = invoke("hooks", "status", "--settings", str(settings_json))
    assert "but announce is off for the agent" in status.output
    install(settings_json)
    status = invoke("hooks", "status", "--settings", str(settings_json))
    assert "announce" not in status.output


def test_uninstall_takes_the_hook_and_the_line_out_again(tmp_path: Path) -> None:
    """Uninstall restores the settings file and the config file exactly as they were."""
    settings_json = tmp_path / "settings.json"
    settings_json.write_text('{"model": "opus"}\n')
    config().write_text(MINE)
    install(settings_json, "--announce")
    result = invoke("hooks", "uninstall", "--settings", str(settings_json))
    assert result.exit_code == 0
    assert json.loads(settings_json.read_text()) == {"model": "opus"}
    assert config().read_text() == MINE
    assert load_settings().announce is False
    assert f"announce: off in {config()}" in result.output


def test_a_config_file_made_for_the_line_goes_with_it(tmp_path: Path) -> None:
    """No config file before: install creates one with the line; uninstall removes it."""
    settings_json = tmp_path / "settings.json"
    install(settings_json, "--announce")
    assert config().read_text() == f"announce = true {NOTE}\n"
    invoke("hooks", "uninstall", "--settings", str(settings_json))
    assert not config().exists()


def test_install_without_announce_turns_it_off_again(tmp_path: Path) -> None:
    """A later plain install makes SessionStart plain again and takes our line out."""
    settings_json = tmp_path / "settings.json"
    config().write_text(MINE)
    install(settings_json, "--announce")
    install(settings_json)
    [handler] = json.loads(settings_json.read_text())["hooks"]["SessionStart"][0]["hooks"]
    assert handler == {
        "type": "command",
        "command": f"{SCRIPT} publish",
        "async": True,
        "timeout": 5,
    }
    assert config().read_text() == MINE


def test_the_line_stays_while_another_settings_file_announces(tmp_path: Path) -> None:
    """User and project files both announce: uninstalling one keeps announce on for the other."""
    user, project = tmp_path / "user.json", tmp_path / "project.json"
    install(user, "--announce")
    install(project, "--announce")
    invoke("hooks", "uninstall", "--settings", str(user))
    assert load_settings().announce is True
    invoke("hooks", "uninstall", "--settings", str(project))
    assert load_settings().announce is False


def test_a_line_the_user_wrote_is_never_removed(tmp_path: Path) -> None:
    """Announce = true written by hand stays through install and uninstall, untouched."""
    settings_json = tmp_path / "settings.json"
    mine = "announce = true  # I want this\n"
    config().write_text(mine)
    install(settings_json, "--announce")
    assert config().read_text() == mine
    invoke("hooks", "uninstall", "--settings", str(settings_json))
    assert config().read_text() == mine


def test_dry_run_prints_both_diffs_and_writes_nothing(tmp_path: Path) -> None:
    """--dry-run shows the settings diff and the config diff; neither file changes."""
    settings_json = tmp_path / "settings.json"
    config().write_text(MINE)
    result = invoke(
        "hooks",
        "install",
        "--settings",
        str(settings_json),
        "--script",
        SCRIPT,
        "--announce",
        "--dry-run",
    )
    assert result.exit_code == 0
    assert f'"command": "{SCRIPT} publish --announce",' in result.stdout
    assert f"+announce = true {NOTE}" in result.stdout
    assert result.stderr.splitlines() == [
        f"dry run: nothing written to {settings_json}",
        f"dry run: nothing written to {config()}",
    ]
    assert not settings_json.exists()
    assert config().read_text() == MINE
    install(settings_json, "--announce")
    removal = invoke("hooks", "uninstall", "--settings", str(settings_json), "--dry-run")
    assert f"-announce = true {NOTE}" in removal.stdout
    assert config().read_text() != MINE  # still on: nothing was written


def test_environment_override_is_pointed_out(tmp_path: Path, monkeypatch: Any) -> None:
    """SESSIONBEAT_ANNOUNCE in the environment wins over the file: install says so."""
    monkeypatch.setenv("SESSIONBEAT_ANNOUNCE", "false")
    result = install(tmp_path / "settings.json", "--announce")
    assert "SESSIONBEAT_ANNOUNCE in the environment overrides the file" in result.stderr
