"""The MCP tools' answers from the API's models, pure (mcp_server/tools.py and text.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sessionbeat.mcp_server import tools
from sessionbeat.mcp_server.caller import Caller
from sessionbeat.mcp_server.results import CallerInfo
from sessionbeat.mcp_server.text import active_text, recent_text, report_text
from sessionbeat.models import (
    HistoryEntry,
    HistoryPage,
    SessionDetail,
    SessionView,
    StatusChange,
)
from tests.readers.test_safe_text import HOSTILE, unsafe

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
HERE = "kai-server"
APP = "/home/kai/app"


def view(sid: str, status: str = "working", **fields: Any) -> SessionView:
    """A session as GET /sessions returns it: on kai-server, in /home/kai/app (repo app, main)."""
    published = status if status in ("working", "needs_approval", "waiting_for_input") else "ended"
    base: dict[str, Any] = {
        "host": HERE,
        "session_id": sid,
        "status": status,
        "published_status": published,
        "seq": 1,
        "sent_at": NOW,
        "received_at": NOW,
        "started_at": NOW - timedelta(hours=1),
        "last_activity_at": NOW - timedelta(minutes=2),
        "cwd": APP,
        "repo": "app",
        "branch": "main",
        "context_pct": None,
        "heartbeat": False,
        "host_online": True,
        "age_seconds": 3900.0,
        "idle_seconds": 120.0,
        "last_seen_seconds": 1.0,
        "status_since": NOW,
        "waiting_seconds": None,
    }
    base.update(fields)
    return SessionView.model_validate(base)


def caller_in(cwd: str = APP, session_id: str | None = None, **changes: Any) -> CallerInfo:
    """The caller as a tool sees it, known by id or by its directory only."""
    source = "registry" if session_id else "cwd"
    fields: dict[str, Any] = {
        "session_id": session_id,
        "host": HERE,
        "cwd": cwd,
        "repo": "app",
        "branch": "main",
        "source": source,
    }
    return CallerInfo(**{**fields, **changes})


def test_a_caller_known_only_by_its_directory_is_the_one_session_there() -> None:
    """One live session of this host in the server's directory: that is the caller."""
    views = [
        view("me"),
        view("twin", host="laptop"),  # same path on another machine: not the caller
        view("gone", status="ended"),
        view("other", cwd="/home/kai/api", repo="api"),
    ]
    caller = Caller(None, APP + "/", "app", "main", "cwd")  # a trailing slash still matches
    info = tools.identify(caller, HERE, views)
    assert (info.session_id, info.source, info.note) == ("me", "cwd", None)
    result = tools.who_else(views, info)
    assert [s.session_id for s in result.sessions] == ["twin"]


def test_two_sessions_in_the_callers_directory_leave_none_out() -> None:
    """Two live sessions share the directory: the caller is unknown, both are listed, and said."""
    views = [view("one"), view("two", status="idle")]
    info = tools.identify(Caller(None, APP, "app", "main", "cwd"), HERE, views)
    assert info.session_id is None
    assert info.note == (
        f"2 live sessions on {HERE} work in {APP}: the caller could be any of them, "
        "so none is left out"
    )
    result = tools.who_else(views, info)
    assert [s.session_id for s in result.sessions] == ["one", "two"]
    assert result.summary.endswith(f"({info.note}.)")


def test_active_sessions_show_live_statuses_only_and_filter_exactly() -> None:
    """Stale, ended and offline sessions are not live; repo, host, branch filters are exact."""
    views = [
        view("a", status="needs_approval", tool="Bash"),
        view("b", status="idle", branch="dev"),
        view("c", status="stale"),
        view("d", status="offline"),
        view("e", status="unknown", host="laptop", repo="app-2"),
        view("me", status="waiting_for_input"),
    ]
    caller = caller_in(session_id="me")
    everything = tools.active_sessions(views, caller)
    assert [s.session_id for s in everything.sessions] == ["a", "b", "e"]
    assert everything.summary == "3 other live sessions: 1 needs approval, 1 idle, 1 unknown."
    mine = tools.active_sessions(views, caller, include_self=True, repo="app", branch="main")
    assert [(s.session_id, s.is_caller) for s in mine.sessions] == [("a", False), ("me", True)]
    assert mine.summary.startswith("2 live sessions (repo app, branch main): ")
    assert tools.active_sessions(views, caller, host="nowhere").summary == (
        "No other live session (host nowhere)."
    )


def test_who_else_ranks_the_same_folder_then_the_same_branch_first() -> None:
    """Closest first: same folder, then same branch, then the rest; flags and words match."""
    views = [
        view("far", host="laptop", branch="feature", cwd="/src/app", task="Write docs"),
        view("near", host="desk", cwd="/src/app", status="needs_approval", tool="Edit"),
        view("twin", host="laptop"),
        view("me"),
        view("elsewhere", repo="api", cwd="/home/kai/api"),
    ]
    result = tools.who_else(views, caller_in(session_id="me"))
    assert [(s.session_id, s.same_cwd, s.same_branch) for s in result.sessions] == [
        ("twin", True, True),
        ("near", False, True),
        ("far", False, False),
    ]
    assert result.summary == (
        "3 other sessions work on app: laptop (same branch main, same folder, working); "
        "desk (same branch main, needs approval (Edit)); "
        "laptop (branch feature, working, task 'Write docs')."
    )
    text = active_text(result)
    assert text.splitlines()[0] == result.summary
    assert "[same branch, same folder]" in text


def test_outside_a_repository_the_folder_is_compared() -> None:
    """A caller outside git sees the sessions in its own folder and is told so."""
    views = [view("me", repo=None, branch=None, cwd="/tmp/notes"), view("other", repo=None)]
    caller = caller_in(cwd="/tmp/notes", session_id="me", repo=None, branch=None)
    result = tools.who_else(views, caller)
    assert result.sessions == []
    assert result.summary == "No other live session works in /tmp/notes (not a git repository)."


def test_a_long_list_is_counted_in_the_summary() -> None:
    """Past five sessions the summary counts the rest; the list keeps them all."""
    views = [view(f"s{i}", host=f"h{i}") for i in range(8)]
    result = tools.who_else(views, caller_in(session_id="me"))
    assert len(result.sessions) == 8
    assert result.summary.endswith("h4 (same branch main, same folder, working); and 3 more.")


def test_wire_text_is_made_safe_in_structured_and_text_results() -> None:
    """A hostile task, tool or branch reaches the model with no control or bidi character."""
    views = [view("x", host="laptop", task=HOSTILE, tool=HOSTILE, branch=HOSTILE)]
    result = tools.who_else(views, caller_in(session_id="me"))
    assert unsafe(result.model_dump_json()) == []
    assert [c for c in unsafe(active_text(result)) if c != "\n"] == []


def test_session_report_of_a_live_session_keeps_the_newest_changes() -> None:
    """A long timeline is cut to the newest twenty, oldest first."""
    changes = [
        StatusChange(at=NOW + timedelta(seconds=i), status="working", event=f"e{i}")
        for i in range(30)
    ]
    detail = SessionDetail.model_validate(
        {**view("x", tool="Edit", task="Fix login").model_dump(), "timeline": changes}
    )
    report = tools.session_report(detail, NOW)
    assert report.source == "live"
    assert [c.event for c in report.timeline] == [f"e{i}" for i in range(10, 30)]
    assert report.summary == (
        "x on kai-server: working (Edit) in app on branch main, task 'Fix login', "
        "running 1 h 05 min; 20 status changes shown."
    )
    assert "  07:00:29.000 working (e29)" in report_text(report)


def entry(sid: str, **fields: Any) -> HistoryEntry:
    """A reaped session of the history: ended in repo app two hours before NOW."""
    base: dict[str, Any] = {
        "session_id": sid,
        "host": HERE,
        "repo": "app",
        "branch": "main",
        "cwd": APP,
        "model": None,
        "task": None,
        "status": "ended",
        "end_reason": "logout",
        "reap_reason": "ended",
        "started_at": NOW - timedelta(hours=3),
        "last_activity_at": NOW - timedelta(hours=2),
        "reaped_at": NOW - timedelta(hours=1, minutes=55),
        "context_tokens": 50_000,
        "context_window": 200_000,
        "transcript_path": None,
    }
    return HistoryEntry.model_validate({**base, **fields})


def test_an_ended_session_reads_from_the_history() -> None:
    """From the history: how it ended, when it was last active and how long it ran."""
    report = tools.session_report(entry("old", task="Ship it"), NOW)
    assert report.source == "history"
    assert report.session.context_pct == 25.0
    assert report.summary == (
        "old on kai-server: ended (logout) in app on branch main, task 'Ship it', "
        "last active 2 h 00 min ago after running 1 h 00 min; 0 status changes shown."
    )


def test_recent_sessions_say_when_more_ended_than_shown() -> None:
    """The newest page is listed; the summary counts every match."""
    page = HistoryPage(
        items=[entry(f"s{i}") for i in range(20)], total=57, offset=0, limit=20, next_offset=20
    )
    result = tools.recent_sessions(page, NOW, repo="app", since="7d")
    assert result.total == 57 and len(result.sessions) == 20
    assert result.summary.startswith(
        "57 ended sessions in the history (repo app, since 7d); the 20 newest: "
        "kai-server (app@main, last active 2 h 00 min ago); "
    )
    assert result.summary.endswith("; and 15 more.")
    assert recent_text(result).count("\n- ") == 20
    empty = HistoryPage(items=[], total=0, offset=0, limit=20, next_offset=None)
    assert tools.recent_sessions(empty, NOW).summary == "No ended session in the history."
