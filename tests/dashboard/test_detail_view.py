"""The session detail's pure parts (dashboard/detail_view.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sessionbeat.dashboard.detail_view import (
    facts,
    fields_table,
    resume_command,
    timeline_lines,
)
from sessionbeat.models import StatusChange
from tests.dashboard.test_view import view

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def test_resume_runs_in_the_session_folder_quoted_for_its_shell() -> None:
    """Claude Code finds a session by its launch folder, so the command cd's there first."""
    assert resume_command("abc-1", None) == "claude --resume abc-1"
    assert resume_command("abc-1", "/home/kai/my app") == (
        "cd '/home/kai/my app'\nclaude --resume abc-1"
    )
    assert resume_command("abc-1", "/srv/x;rm -rf ~") == (
        "cd '/srv/x;rm -rf ~'\nclaude --resume abc-1"
    )
    assert resume_command("abc-1", "C:\\Users\\kai\\P") == (
        'cd "C:\\Users\\kai\\P"\nclaude --resume abc-1'
    )


def test_timeline_newest_first_in_the_reader_time_zone() -> None:
    """Each change shows local clock time, icon and words, the event and how long ago."""
    changes = [
        StatusChange(at=NOW - timedelta(minutes=10), status="working", event="PreToolUse"),
        StatusChange(at=NOW - timedelta(minutes=2), status="needs_approval", event=None),
    ]
    text = timeline_lines(changes, NOW, ZoneInfo("Europe/Berlin"))
    assert text.splitlines() == [
        "- 07:58:00 · ⚠ needs approval · 2 min ago",
        "- 07:50:00 · ● working (PreToolUse) · 10 min ago",
    ]
    assert timeline_lines([], NOW, UTC) == "-"


def test_fields_table_escapes_values_and_marks_empty_ones() -> None:
    """Every field is listed; values are HTML-escaped; None and empty read as a dash."""
    table = fields_table({"task": "<b>x</b>", "model": None, "cwd": ""})
    assert "<th>task</th><td>&lt;b&gt;x&lt;/b&gt;</td>" in table
    assert table.count("<td>-</td>") == 2


def test_facts_say_why_the_status_in_the_reader_time_zone() -> None:
    """The facts line names Claude Code's version, a headless run and what decided the status."""
    record = view(
        "s1",
        "working",
        event="PermissionRequest",
        last_activity_at=NOW - timedelta(seconds=4),
        status_source="registry",
        registry_status="busy",
        registry_status_at=NOW - timedelta(seconds=1),
        claude_version="2.1.328",
        entrypoint="sdk-cli",
        headless=True,
    )
    line = facts(record, NOW, ZoneInfo("Europe/Berlin"))
    assert "Claude Code 2.1.328 · headless (sdk-cli)" in line
    assert line.endswith(
        "status from registry busy at 07:59:59.000 (last hook: PermissionRequest at "
        "07:59:56.000) (Europe/Berlin)"
    )
    by_hook = facts(view("s2", "needs_approval", event="PermissionRequest"), NOW)
    assert by_hook.endswith("status from hook PermissionRequest at 06:58:00.000 (UTC)")
