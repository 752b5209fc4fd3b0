"""Markdown and JSON reports of sessions (live and reaped)."""

from __future__ import annotations

import json
from datetime import timedelta

from sessionbeat.aggregator.exports import filename, sessions_markdown, to_json
from sessionbeat.models import ExportFormat, HistoryEntry, SessionStatus, StatusChange
from tests.aggregator.support import T0


def reaped(sid: str = "abc", task: str | None = "fix | pipes") -> HistoryEntry:
    return HistoryEntry(
        session_id=sid,
        host="kai-server",
        repo="web",
        branch="main",
        cwd="/src/web",
        model="claude-opus-4",
        task=task,
        status=SessionStatus.ENDED,
        end_reason="logout",
        reap_reason="ended",
        started_at=T0,
        last_activity_at=T0 + timedelta(minutes=75),
        reaped_at=T0 + timedelta(minutes=80),
        context_tokens=50_000,
        context_window=200_000,
        transcript_path=None,
        timeline=[
            StatusChange(at=T0, status=SessionStatus.WAITING_FOR_INPUT, event="SessionStart"),
            StatusChange(at=T0 + timedelta(minutes=75), status=SessionStatus.ENDED),
        ],
    )


def test_markdown_report_has_facts_and_timeline() -> None:
    """The report has a heading per session, a facts table and the timeline rows."""
    md = sessions_markdown([reaped()], "History")
    assert md.startswith("# History\n\n1 session.\n")
    assert "## web on kai-server" in md
    assert "| duration | 1 h 15 min |" in md
    assert "| context | 50,000 of 200,000 tokens (25 %) |" in md
    assert "| task | fix \\| pipes |" in md  # a pipe would break the table
    assert "| 2025-06-01 12:00:00 UTC | waiting_for_input | SessionStart |" in md
    assert "| reaped | 2025-06-01 13:20:00 UTC (ended) |" in md


def test_json_export_round_trips() -> None:
    """One session is a JSON object, several a JSON array, both with API field names."""
    one = json.loads(to_json(reaped()))
    assert HistoryEntry.model_validate(one) == reaped()
    many = json.loads(to_json([reaped("a"), reaped("b")]))
    assert [e["session_id"] for e in many] == ["a", "b"]


def test_download_names_are_safe() -> None:
    """File names keep id characters and replace anything else."""
    assert filename("session-3f2a.b_c", ExportFormat.MD) == "session-3f2a.b_c.md"
    assert filename("a/../b c", ExportFormat.JSON) == "a-..-b-c.json"


def test_each_format_downloads_with_its_content_type() -> None:
    """JSON exports download as application/json, Markdown ones as UTF-8 text/markdown."""
    assert [f.value for f in ExportFormat] == ["json", "md"]
    assert ExportFormat.JSON.media_type == "application/json"
    assert ExportFormat.MD.media_type == "text/markdown; charset=utf-8"
