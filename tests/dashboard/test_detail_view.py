"""The session detail's pure parts (dashboard/detail_view.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sessionbeat.dashboard.detail_view import fields_table, resume_command, timeline_lines
from sessionbeat.models import StatusChange

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
