"""The history view's pure parts: URL filters and the reaped session card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sessionbeat.dashboard.history_view import HistoryQuery, history_card
from sessionbeat.models import HistoryEntry
from tests.readers.test_safe_text import unsafe

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def test_history_filters_round_trip_through_the_url() -> None:
    """Host, repo, period and page survive a bookmark; bad values fall back to defaults."""
    query = {"view": "history", "host": "macbook", "repo": "api", "period": "7d", "page": "2"}
    parsed = HistoryQuery.from_query(query)
    assert parsed == HistoryQuery("macbook", "api", "7d", 2)
    assert parsed.to_query() == query
    assert parsed.since(NOW) == NOW - timedelta(days=7)
    assert HistoryQuery.from_query({"period": "1y", "page": "-1"}) == HistoryQuery()
    assert HistoryQuery(period="all").since(NOW) is None
    assert HistoryQuery().to_query() == {"view": "history"}


def test_history_card_tells_why_when_and_how_long() -> None:
    """A reaped session's card: place, end reason, when reaped, how long it lasted, escaped."""
    entry = HistoryEntry(
        session_id="s1",
        host="kai-server",
        repo=None,
        branch="main",
        cwd="/home/kai/<odd>",
        model="claude-opus-4-6",
        task="Ship it",
        status="ended",
        end_reason=None,
        reap_reason="expired",
        started_at=NOW - timedelta(hours=3),
        last_activity_at=NOW - timedelta(hours=1),
        reaped_at=NOW - timedelta(minutes=30),
        context_tokens=50_000,
        context_window=200_000,
        transcript_path=None,
    )
    html = history_card(entry, NOW, "?session=s1&shost=kai-server")
    assert "<b>&lt;odd&gt;</b>" in html  # the folder name stands in for the missing repo
    assert "(expired, reaped 30 min ago · lasted 2 h 00 min)" in html
    assert "ctx 25%" in html
    assert 'href="?session=s1&amp;shost=kai-server"' in html


def test_a_reaped_card_shows_no_control_or_bidi_character() -> None:
    """Task, folder, branch, model and reasons from the wire are cleaned on the history page."""
    hostile = "\x1b]0;pwned\x07\r\x9b31m\u202eexe.txt\u2066"
    entry = HistoryEntry(
        session_id="s1",
        host="kai-server",
        repo=None,
        branch=f"main{hostile}",
        cwd=f"/home/kai/{hostile}",
        model=f"m{hostile}",
        task=f"Ship it{hostile}",
        status="ended",
        end_reason=f"logout{hostile}",
        reap_reason="expired",
        started_at=NOW - timedelta(hours=3),
        last_activity_at=NOW - timedelta(hours=1),
        reaped_at=NOW - timedelta(minutes=30),
        context_tokens=None,
        context_window=None,
        transcript_path=None,
    )
    html = history_card(entry, NOW, None)
    assert "Ship it]0;pwned 31mexe.txt" in html
    assert unsafe(html) == []
