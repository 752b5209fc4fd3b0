"""The page's pure parts: filters in the URL, grouping, cards (dashboard/view.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sessionbeat.dashboard.view import (
    Filters,
    Grouping,
    Section,
    ago,
    card,
    doing,
    group_sessions,
    host_chip,
    live_layout,
    md,
    notable_hosts,
)
from sessionbeat.models import HostView, SessionStatus, SessionView
from tests.readers.test_safe_text import unsafe

NOW = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def view(sid: str, status: str = "working", **fields: Any) -> SessionView:
    base: dict[str, Any] = {
        "host": "kai-server",
        "session_id": sid,
        "status": status,
        "published_status": status
        if status in ("working", "needs_approval", "ended", "waiting_for_input")
        else "working",
        "status_source": "hook",
        "event": "PreToolUse",
        "seq": 1,
        "sent_at": NOW,
        "received_at": NOW,
        "started_at": NOW,
        "last_activity_at": NOW - timedelta(minutes=2),
        "end_reason": None,
        "cwd": "/home/kai/app",
        "repo": "app",
        "branch": "main",
        "transcript_path": None,
        "tool": None,
        "task": None,
        "model": None,
        "context_tokens": None,
        "context_window": None,
        "context_pct": None,
        "subagents": 0,
        "permission_mode": None,
        "pid": None,
        "heartbeat": False,
        "detail": None,
        "host_online": True,
        "age_seconds": 60.0,
        "idle_seconds": 120.0,
        "last_seen_seconds": 1.0,
        "status_since": NOW,
        "waiting_seconds": None,
    }
    base.update(fields)
    return SessionView.model_validate(base)


def test_filters_round_trip_through_the_url() -> None:
    """Filters read from the query come back as the same query (a phone bookmark keeps them)."""
    query = {"host": "macbook", "status": "needs_approval", "group": "repo"}
    filters = Filters.from_query(query)
    assert (filters.host, filters.status, filters.group) == (
        "macbook",
        "needs_approval",
        Grouping.REPO,
    )
    assert filters.to_query() == query
    assert Filters.from_query({"status": "bogus", "group": "nope"}) == Filters()


def test_grouping_by_status_host_and_repo() -> None:
    """Status sections follow the fixed order; host/repo groups are by name, ended left out."""
    views = [
        view("a", "idle", repo="web"),
        view("b", "needs_approval", host="macbook"),
        view("c", "ended"),
        view("d", "working", repo=None),
    ]
    assert [s.title for s in group_sessions(views, Grouping.STATUS)] == [
        "Needs approval",
        "Working",
        "Idle",
        "Ended",
    ]
    by_host = group_sessions(views, Grouping.HOST)
    assert [(s.title, [v.session_id for v in s.views]) for s in by_host] == [
        ("kai-server", ["a", "d"]),
        ("macbook", ["b"]),
    ]
    assert [s.title for s in group_sessions(views, Grouping.REPO)] == ["-", "app", "web"]


MIXED = [
    view("w1", "working", host="desk", repo="web"),
    view("a1", "needs_approval", host="desk", repo="api"),
    view("e1", "ended", host="desk", repo="web"),
    view("i1", "idle", host="kai-server", repo=None),
    view("a2", "needs_approval", host="kai-server", repo="web"),
]
"""Sessions of two hosts and three repos: two approvals, one ended."""


def laid_out(sessions: list[SessionView], query: dict[str, str]) -> tuple[list[str], list[str]]:
    """Return (approval ids, "label: ids" per section) of the live layout under ``query``."""
    layout = live_layout(sessions, Filters.from_query(query))
    sections = [f"{s.label}: {' '.join(v.session_id for v in s.views)}" for s in layout.sections]
    return [v.session_id for v in layout.approvals.views], sections


@pytest.mark.parametrize(
    ("query", "approvals", "sections"),
    [
        pytest.param(
            {},
            ["a1", "a2"],
            ["● Working (1): w1", "◌ Idle (1): i1", "■ Ended (1): e1"],
            id="by-status-approvals-only-on-top",
        ),
        pytest.param(
            {"group": "host"},
            ["a1", "a2"],
            ["desk (2): w1 a1", "kai-server (2): i1 a2"],
            id="by-host-approvals-also-in-their-group-ended-left-out",
        ),
        pytest.param(
            {"group": "repo"},
            ["a1", "a2"],
            ["- (1): i1", "api (1): a1", "web (2): w1 a2"],
            id="by-repo-sorted-by-name",
        ),
        pytest.param(
            {"host": "kai-server"},
            ["a2"],
            ["◌ Idle (1): i1"],
            id="host-filter",
        ),
        pytest.param(
            {"repo": "web", "status": "ended"},
            [],
            ["■ Ended (1): e1"],
            id="repo-and-status-filters",
        ),
        pytest.param(
            {"status": "needs_approval", "group": "host"},
            ["a1", "a2"],
            ["desk (1): a1", "kai-server (1): a2"],
            id="status-filter-grouped-by-host",
        ),
    ],
)
def test_live_layout_sections_and_counts(
    query: dict[str, str], approvals: list[str], sections: list[str]
) -> None:
    """What the page shows for each filter and grouping: approvals on top, then the groups."""
    assert laid_out(MIXED, query) == (approvals, sections)


@pytest.mark.parametrize(
    ("sessions", "query", "empty"),
    [
        pytest.param([], {}, "No sessions yet.", id="no-sessions"),
        pytest.param(MIXED, {"host": "nowhere"}, "No sessions match the filters.", id="filtered"),
        pytest.param(MIXED[1:2], {}, None, id="only-an-approval"),
        pytest.param(MIXED[2:3], {"group": "host"}, "No sessions match the filters.", id="ended"),
    ],
)
def test_live_layout_says_when_nothing_is_shown(
    sessions: list[SessionView], query: dict[str, str], empty: str | None
) -> None:
    """No card at all: the page says whether there are no sessions or the filters hide them."""
    assert live_layout(sessions, Filters.from_query(query)).empty == empty


def test_sections_are_keyed_by_status_not_by_title() -> None:
    """Only the ended sessions fold away, and a repo named like a status is not a status."""
    by_status = live_layout(MIXED, Filters()).sections
    assert [(s.status, s.folded) for s in by_status] == [
        (SessionStatus.WORKING, False),
        (SessionStatus.IDLE, False),
        (SessionStatus.ENDED, True),
    ]
    ended_repo = Section("Ended", [view("r1", repo="Ended")])
    assert (ended_repo.status, ended_repo.folded, ended_repo.label) == (None, False, "Ended (1)")


def test_card_says_status_in_words_and_escapes_values() -> None:
    """A card names the status (icon + words, not colour only), the tool and wait; HTML-safe."""
    html = card(
        view(
            "s1",
            "needs_approval",
            tool="Bash",
            detail="rm -rf <b>x</b>",
            waiting_seconds=125.0,
            repo="<script>",
            subagents=2,
        ),
        NOW,
        "?session=s1",
    )
    assert "⚠ Needs approval" in html
    assert "waiting 2 min" in html
    assert "wants Bash: rm -rf &lt;b&gt;x&lt;/b&gt;" in html
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "2 subagents" in html
    assert 'href="?session=s1"' in html


def test_values_from_the_wire_cannot_become_markdown() -> None:
    """A repo or task crafted as a link, image, colour or formula renders as plain text."""
    assert md("![x](http://e/t.png) :red[hi] $x$ a_b\n\nnext") == (
        "\\!\\[x\\]\\(http\\://e/t.png\\) \\:red\\[hi\\] \\$x\\$ a\\_b next"
    )
    html = card(view("s1", task="done\n\n![x](http://e/t.png)"), NOW, "?")
    assert "\n" not in html  # a blank line would end the HTML block and let Markdown in


def test_a_headless_run_says_so_on_its_card() -> None:
    """A `claude -p` run (entrypoint sdk-cli) is marked headless; a terminal session is not."""
    assert "headless" in card(view("s1", entrypoint="sdk-cli", headless=True), NOW, "?")
    assert "headless" not in card(view("s1", entrypoint="cli"), NOW, "?")


def test_card_without_repo_or_cwd_uses_the_short_id() -> None:
    """Old sessions without cwd are named by their short id instead of a dash."""
    html = card(view("21da9dd0-cce2-402a", repo=None, cwd=None), NOW, "?")
    assert "session 21da9dd0" in html


def test_doing_says_what_a_session_does_in_words() -> None:
    """Tool and task first; else the last hook event or the status in plain words."""
    assert doing(view("a", "working", tool="Edit", task="Fix login")) == "Edit · Fix login"
    assert doing(view("a", "needs_approval", tool=None)) == "waiting for your approval"
    at_prompt = view("a", "needs_approval", tool=None, waiting_for="permission prompt")
    assert doing(at_prompt) == "waiting at the permission prompt"
    assert doing(view("a", "working", event="UserPromptSubmit")) == "thinking"
    assert doing(view("a", "waiting_for_input", event="Stop")) == "your turn"
    assert doing(view("a", "waiting_for_input", event=None)) == "your turn"
    assert doing(view("a", "ended", end_reason="logout")) == "ended (logout)"
    assert doing(view("a", "working", event="SomeFutureEvent")) == "SomeFutureEvent"


def test_host_chip_says_state_in_words_for_how_long_and_sessions() -> None:
    """A host chip reads e.g. "✕ offline desk for 3 min · 1 live", approvals counted."""
    host = HostView(
        host="desk",
        state="offline",
        since=NOW - timedelta(minutes=3),
        bdseq=1,
        last_seen=NOW,
        sessions=1,
        needs_approval=2,
    )
    chip = host_chip(host, NOW)
    assert "✕ offline</span> <b>desk</b>" in chip
    assert "for 3 min · 1 live · ⚠ 2" in chip


def test_many_hosts_fold_to_those_that_need_a_look() -> None:
    """Up to 8 hosts all show; beyond that only offline ones and those with an approval."""

    def host(name: str, state: str = "online", approvals: int = 0) -> HostView:
        return HostView(
            host=name,
            state=state,
            since=NOW,
            bdseq=1,
            last_seen=NOW,
            sessions=1,
            needs_approval=approvals,
        )

    few = [host(f"h{i}") for i in range(8)]
    assert notable_hosts(few) == few
    many = [*few, host("down", "offline"), host("asks", approvals=1)]
    assert [h.host for h in notable_hosts(many)] == ["down", "asks"]


def test_ago_moves_in_minute_steps() -> None:
    """Relative times read like a phone app and change at most once a minute."""
    assert ago(NOW - timedelta(seconds=2), NOW) == "<1 min ago"
    assert ago(NOW - timedelta(seconds=43), NOW) == "<1 min ago"  # never "just now"
    assert ago(NOW - timedelta(minutes=2, seconds=30), NOW) == "2 min ago"
    assert ago(None, NOW) == "-"


def test_a_group_heading_shows_a_repo_name_as_it_is() -> None:
    """A repo named with Markdown marks keeps them in its heading instead of turning bold."""
    assert Section("__init__", [view("r1")]).label == "\\_\\_init\\_\\_ (1)"


HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\x9b31m\u202eexe.txt\u2066"
"""Escape sequences, CR, an 8-bit CSI and bidi controls, as a hostile host could publish."""


def test_the_page_shows_no_control_or_bidi_character_from_the_wire() -> None:
    """A card, a heading and the markdown of hostile repo, branch, task and cwd show none."""
    hostile = view(
        "s1",
        "needs_approval",
        repo=f"repo{HOSTILE}",
        branch=f"main{HOSTILE}",
        cwd=f"/home/{HOSTILE}",
        tool=f"Bash{HOSTILE}",
        detail=f"rm{HOSTILE}",
        model=f"m{HOSTILE}",
        task=f"t{HOSTILE}",
    )
    html = card(hostile, NOW, "?session=s1")
    assert "repo]0;pwned[2J 31mexe.txt" in html  # the printable rest stays
    shown = [
        html,
        card(view("s2", repo=None, cwd=f"/srv/{HOSTILE}"), NOW, None),
        md(f"a{HOSTILE}"),
        Section(f"repo{HOSTILE}", [hostile]).label,
    ]
    for text in shown:
        assert unsafe(text) == [], text
