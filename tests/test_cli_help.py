"""``--help`` of every command and sub-command reads as plain text in an 80-column terminal."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner, Result

from sessionbeat.cli import app
from sessionbeat.models import SessionStatus

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def command_paths(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path under ``group`` (the root as ``()``), hidden commands left out."""
    paths = [prefix]
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if not command.hidden:
            paths += command_paths(command, (*prefix, name))
    return paths


PATHS = command_paths(typer.main.get_command(app))


def render_help(*path: str, columns: int = 80) -> Result:
    """Run ``sessionbeat <path> --help`` in a terminal ``columns`` wide, without colours."""
    env = {"COLUMNS": str(columns), "NO_COLOR": "1", "TERM": "dumb"}
    return CliRunner(env=env).invoke(app, [*path, "--help"])


def test_the_walk_finds_every_sub_command() -> None:
    """The tree walked below holds the groups and their sub-commands, so none is skipped."""
    assert {("sessions", "list"), ("hooks", "install"), ("broker", "add-host"), ("doctor",)} <= {
        *PATHS
    }
    assert len(PATHS) > 25


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "sessionbeat")
def test_help_is_plain_text(path: tuple[str, ...]) -> None:
    """`--help` exits 0 and shows no `<bool>` beside flags and no reStructuredText ``markup``."""
    result = render_help(*path)
    text = ANSI.sub("", result.output)
    assert result.exit_code == 0, text
    assert "Usage:" in text
    assert "<bool>" not in text, text
    assert "``" not in text, text


def test_status_choices_are_whole_words_at_80_columns() -> None:
    """`sessions list --help` names every status unbroken, even in an 80-column terminal."""
    text = ANSI.sub("", render_help("sessions", "list").output)
    words = set(re.findall(r"[a-z_]+", text))
    missing = [s.value for s in SessionStatus if s.value not in words]
    assert not missing, text


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "sessionbeat")
def test_defaults_are_written_one_way(path: tuple[str, ...]) -> None:
    """Defaults show as typer's `[default: ...]`, never as a hand-written "(default ...)"."""
    text = ANSI.sub("", render_help(*path, columns=200).output)
    assert "(default" not in text, text
    assert "default:" not in text.replace("[default:", ""), text


def test_server_commands_take_bind_and_hide_the_old_host() -> None:
    """`aggregator` and `dashboard` offer --bind; the old --host is no longer advertised."""
    for command in ("aggregator", "dashboard"):
        text = ANSI.sub("", render_help(command, columns=200).output)
        assert "--bind" in text
        assert "--host" not in text


def test_read_only_commands_do_not_promise_to_write() -> None:
    """`hooks status` only reads its file, `broker list/remove` never create the password file."""
    status = render_help("hooks", "status", columns=200).output
    assert "to edit" not in status and "edit ./.claude" not in status
    assert "settings.json to read" in status
    for command in ("list", "remove"):
        assert "created if missing" not in render_help("broker", command, columns=200).output
    assert "created if missing" in render_help("broker", "add-host", columns=200).output
