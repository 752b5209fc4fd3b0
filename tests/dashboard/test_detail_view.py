"""The session detail's pure parts (dashboard/detail_view.py)."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sessionbeat.dashboard.detail_view import (
    facts,
    fields_table,
    is_windows_path,
    resume_command,
    timeline_lines,
)
from sessionbeat.dashboard.view import md
from sessionbeat.models import StatusChange
from sessionbeat.readers.render import safe_text
from tests.dashboard.test_view import view
from tests.readers.test_safe_text import unsafe_shown

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def test_resume_runs_in_the_session_folder_quoted_for_its_shell() -> None:
    """Claude Code finds a session by its launch folder, so the command cd's there first."""
    assert resume_command("abc-1", None) == "claude --resume abc-1"
    assert resume_command("abc-1", "/home/kai/my app") == (
        "cd '/home/kai/my app' && claude --resume abc-1"
    )
    assert resume_command("abc-1", "/srv/x;rm -rf ~") == (
        "cd '/srv/x;rm -rf ~' && claude --resume abc-1"
    )
    assert resume_command("abc-1", "C:\\Users\\kai\\P") == (
        "Set-Location -LiteralPath 'C:\\Users\\kai\\P' -ErrorAction Stop; claude --resume 'abc-1'"
    )


def test_a_crafted_windows_folder_cannot_break_out_of_the_command() -> None:
    """The issue's crafted folder (closes a double quote) stays one argument of Set-Location."""
    cwd = 'C:\\x"; touch /tmp/pwned; echo "'
    command = resume_command("abc-1", cwd)
    assert powershell_split(command) == [*ps_cd(cwd), ";", "claude", "--resume", "abc-1"]
    assert "touch" not in powershell_split(command)


def ps_cd(cwd: str) -> list[str]:
    return ["Set-Location", "-LiteralPath", cwd, "-ErrorAction", "Stop"]


PS_QUOTES = "'\u2018\u2019\u201a\u201b"
"""The characters PowerShell reads as a single quote (its tokenizer: ASCII and typographic)."""


def powershell_split(command: str) -> list[str]:
    """Split a PowerShell line of bare words, ``;`` and single-quoted strings into arguments.

    Inside single quotes nothing is special but a quote, and two quote characters in a row
    stand for one (about_Quoting_Rules). Anything else in a bare word fails the test.
    """
    words: list[str] = []
    i = 0
    while i < len(command):
        char = command[i]
        if char == " ":
            i += 1
        elif char == ";":
            words.append(";")
            i += 1
        elif char in PS_QUOTES:
            word, i = [], i + 1
            while True:
                assert i < len(command), f"unterminated string in {command!r}"
                if command[i] in PS_QUOTES:
                    if i + 1 < len(command) and command[i + 1] in PS_QUOTES:
                        word.append(command[i])
                        i += 2
                        continue
                    i += 1
                    break
                word.append(command[i])
                i += 1
            words.append("".join(word))
        else:
            end = i
            while end < len(command) and command[end] not in " ;":
                end += 1
            bare = command[i:end]
            assert all(c.isalnum() or c in "-_." for c in bare), bare
            words.append(bare)
            i = end
    return words


windows_folders = st.builds(
    lambda drive, rest: f"{drive}:\\{rest}",
    st.sampled_from("CDZcz"),
    st.text(),
) | st.builds(lambda rest: f"\\\\{rest}", st.text())
"""Windows working folders: a drive letter or a UNC share, then anything."""


@given(cwd=st.text(min_size=1).filter(lambda c: not is_windows_path(c)), sid=st.text())
def test_posix_command_parses_to_exactly_the_folder_and_the_id(cwd: str, sid: str) -> None:
    """For any folder and id, a POSIX shell sees cd <folder> && claude --resume <id>."""
    command = resume_command(sid, cwd)
    cd = ["cd", "--"] if cwd.startswith("-") else ["cd"]  # "cd -x": -x would be an option
    assert shlex.split(command) == [*cd, cwd, "&&", "claude", "--resume", sid]
    shown = safe_text(command)  # what the page shows: the structure survives the cleaning
    assert shlex.split(shown) == [*cd, safe_text(cwd), "&&", "claude", "--resume", safe_text(sid)]


@given(cwd=windows_folders, sid=st.text())
def test_powershell_command_parses_to_exactly_the_folder_and_the_id(cwd: str, sid: str) -> None:
    """For any Windows folder and id, PowerShell sees Set-Location <folder> and claude <id>."""
    command = resume_command(sid, cwd)
    assert powershell_split(command) == [*ps_cd(cwd), ";", "claude", "--resume", sid]
    shown = safe_text(command)
    assert powershell_split(shown) == [
        *ps_cd(safe_text(cwd)), ";", "claude", "--resume", safe_text(sid)
    ]  # fmt: skip


def test_only_drive_letters_and_shares_are_windows_folders() -> None:
    """The form of the folder decides the shell; a POSIX path with a backslash stays POSIX."""
    assert is_windows_path("C:\\Users") and is_windows_path("d:/src")
    assert is_windows_path("\\\\nas\\share")
    assert not is_windows_path("/home/kai/C:\\x")
    assert not is_windows_path("relative\\dir")


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


def test_detail_text_shows_no_control_or_bidi_character() -> None:
    """Fields table, facts line and timeline of a hostile session are cleaned for the page."""
    hostile = "\x1b]0;pwned\x07\r\x9b31m\u202eexe.txt\u2066"
    record = view("s1", "working", cwd=f"/home/{hostile}", permission_mode=f"p{hostile}")
    changes = [StatusChange(at=NOW, status="working", event=f"PreToolUse{hostile}")]
    shown = [
        fields_table({"cwd": record.cwd, "task": f"t{hostile}"}),
        md(facts(record, NOW)),
        timeline_lines(changes, NOW, UTC),
    ]
    for text in shown:
        assert unsafe_shown(text) == []
