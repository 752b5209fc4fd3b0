"""Live sessions sharing a repo and branch are counted, across hosts; others share nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sessionbeat.models import PublishedStatus, SessionStatus, SessionView
from sessionbeat.readers.branchmates import branch_mates

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def view(
    host: str, sid: str, repo: str | None, branch: str | None, status: SessionStatus
) -> SessionView:
    """A minimal session view."""
    return SessionView(
        host=host,
        session_id=sid,
        repo=repo,
        branch=branch,
        status=status,
        published_status=PublishedStatus.WORKING,
        seq=1,
        sent_at=T0,
        received_at=T0,
        context_pct=None,
        heartbeat=False,
        host_online=True,
        age_seconds=1.0,
        idle_seconds=1.0,
        last_seen_seconds=1.0,
        status_since=T0,
        waiting_seconds=None,
    )


def test_sessions_on_one_repo_and_branch_are_counted_across_hosts() -> None:
    """Mac and kai-server both on sessionbeat@main: 2 each; the other branch and repo: none."""
    views = [
        view("mac", "a", "sessionbeat", "main", SessionStatus.WORKING),
        view("kai-server", "b", "sessionbeat", "main", SessionStatus.NEEDS_APPROVAL),
        view("kai-server", "c", "sessionbeat", "fix-ci", SessionStatus.WORKING),
        view("mac", "d", "other", "main", SessionStatus.IDLE),
    ]
    assert branch_mates(views) == {("mac", "a"): 2, ("kai-server", "b"): 2}


def test_sessions_that_cannot_edit_or_have_no_branch_share_nothing() -> None:
    """Ended, stale and offline sessions and those without repo or branch are not counted."""
    views = [
        view("mac", "a", "sessionbeat", "main", SessionStatus.WORKING),
        view("mac", "b", "sessionbeat", "main", SessionStatus.ENDED),
        view("mac", "c", "sessionbeat", "main", SessionStatus.STALE),
        view("win", "d", "sessionbeat", "main", SessionStatus.OFFLINE),
        view("mac", "e", None, None, SessionStatus.WORKING),
        view("mac", "f", None, None, SessionStatus.WORKING),
        view("mac", "g", "sessionbeat", None, SessionStatus.WORKING),
    ]
    assert branch_mates(views) == {}
