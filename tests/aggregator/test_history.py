"""The history: write, page, filter, find, prune; on SQLite and on a real PostgreSQL.

The SQLite file alone: its WAL journal, and surviving a full or unwritable disk.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.aggregator.history import History
from sessionbeat.errors import HistoryUnavailableError
from sessionbeat.models import HistoryEntry, SessionStatus, StatusChange
from tests.aggregator.support import T0, ManualClock


def entry(sid: str, host: str = "h1", repo: str | None = "web", minutes: float = 0) -> HistoryEntry:
    reaped = T0 + timedelta(minutes=minutes)
    return HistoryEntry(
        session_id=sid,
        host=host,
        repo=repo,
        branch="main",
        cwd="/src/web",
        model="claude-opus-4",
        task="fix the build",
        status=SessionStatus.ENDED,
        end_reason="prompt_input_exit",
        reap_reason="ended",
        started_at=reaped - timedelta(minutes=30),
        last_activity_at=reaped - timedelta(minutes=5),
        reaped_at=reaped,
        context_tokens=1000,
        context_window=200000,
        transcript_path=None,
        timeline=[StatusChange(at=reaped, status=SessionStatus.ENDED, event="SessionEnd")],
    )


BACKENDS = ["sqlite", "postgresql"]
"""The history's backends every shared behaviour is tested on."""


def store(request: pytest.FixtureRequest, tmp: Path, clock: ManualClock, **kw: Any) -> History:
    """Return an open history on the backend ``request.param`` (a fresh database each time).

    It is closed when the test ends (its pooled connections with it).
    """
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres").new_database()
    h = History(tmp / "db" / "history.sqlite3", keep_days=30, url=url, clock=clock, **kw)
    request.addfinalizer(h.close)
    assert h.open()
    return h


@pytest.fixture(params=BACKENDS)
def history(request: pytest.FixtureRequest, tmp: Path, clock: ManualClock) -> History:
    """An open history on each backend in turn."""
    return store(request, tmp, clock)


def test_entries_round_trip_newest_first(history: History) -> None:
    """Written entries come back whole (timeline included), newest reaped first."""
    assert history.add([entry("a", minutes=0), entry("b", minutes=2), entry("c", minutes=1)]) == 3
    page = history.page()
    assert [e.session_id for e in page.items] == ["b", "c", "a"]
    assert page.items[0] == entry("b", minutes=2)
    assert (page.total, page.next_offset) == (3, None)


def test_wal_journal_is_used(tmp: Path, clock: ManualClock) -> None:
    """The SQLite database runs in WAL mode, so readers never block the reaper's writes."""
    history = History(tmp / "db" / "history.sqlite3", keep_days=30, clock=clock)
    assert history.open()
    mode = sqlite3.connect(history.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_paging(history: History) -> None:
    """limit/offset page through the entries and next_offset points at the next page."""
    history.add([entry(f"s{i}", minutes=i) for i in range(5)])
    first = history.page(limit=2)
    second = history.page(limit=2, offset=first.next_offset or 0)
    last = history.page(limit=2, offset=4)
    assert [e.session_id for e in first.items] == ["s4", "s3"]
    assert [e.session_id for e in second.items] == ["s2", "s1"]
    assert ([e.session_id for e in last.items], last.next_offset) == (["s0"], None)
    assert first.next_offset == 2 and first.total == 5


def test_filters(history: History) -> None:
    """host, repo and the [since, until) window on reaped_at select entries."""
    history.add(
        [
            entry("a", host="h1", repo="web", minutes=0),
            entry("b", host="h2", repo="web", minutes=10),
            entry("c", host="h1", repo="api", minutes=20),
        ]
    )

    def sids(**kw: object) -> list[str]:
        return [e.session_id for e in history.page(**kw).items]  # type: ignore[arg-type]

    assert sids(host="h1") == ["c", "a"]
    assert sids(repo="web") == ["b", "a"]
    assert sids(since=T0 + timedelta(minutes=10)) == ["c", "b"]
    assert sids(until=T0 + timedelta(minutes=10)) == ["a"]
    assert sids(host="h1", repo="web") == ["a"]


def test_find_returns_newest_entry_of_a_session(history: History) -> None:
    """A session reaped twice (resumed in between) is found by its newest entry."""
    history.add([entry("s", minutes=0), entry("s", host="h2", minutes=5)])
    found = history.find("s")
    assert found is not None and found.host == "h2"
    on_h1 = history.find("s", host="h1")
    assert on_h1 is not None and on_h1.reaped_at == T0
    assert history.find("nope") is None


def test_prune_deletes_entries_older_than_keep_days(history: History, clock: ManualClock) -> None:
    """Entries reaped more than keep_days ago are deleted, newer ones kept."""
    history.add([entry("old", minutes=0), entry("new", minutes=60 * 24 * 20)])
    clock.advance(31 * 86400)
    assert history.prune() == 1
    assert [e.session_id for e in history.page().items] == ["new"]


def test_unwritable_path_is_counted_not_raised(
    tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A history under a path that cannot be created fails cleanly: counted, logged once."""
    blocker = tmp / "file"
    blocker.write_text("not a directory")
    h = History(blocker / "history.sqlite3", keep_days=30, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="sessionbeat.aggregator.history"):
        assert not h.open()
        assert h.add([entry("a")]) == 0
        assert h.add([entry("b")]) == 0
    assert h.errors == 3
    assert not h.ok
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "history.sqlite3" in errors[0].getMessage()
    with pytest.raises(HistoryUnavailableError):
        h.page()


def test_full_database_keeps_entries_in_memory_and_writes_them_later(
    tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A full database (SQLITE_FULL) counts failed writes and keeps what it could not write."""
    h = History(tmp / "h.sqlite3", keep_days=30, max_bytes=64 * 1024, clock=clock, retry_interval=0)
    assert h.open()
    written = 0
    with caplog.at_level(logging.DEBUG, logger="sessionbeat.aggregator.history"):
        for i in range(200):
            big = entry(f"s{i}", minutes=i).model_copy(update={"task": "x" * 2000})
            written += h.add([big])
    assert 0 < written < 200
    assert h.errors == 200 - written
    assert h.pending == 200 - written
    assert not h.ok
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    assert "full" in (h.last_error or "")
    assert h.page(limit=1).total == written  # older entries stay readable
    h.close()
    h.max_bytes = None  # room again
    assert h.flush() == 200 - written
    assert h.ok
    assert h.page(limit=1).total == 200
    clock.advance(365 * 86400)
    assert h.prune() == 200


def test_reaped_at_times_are_utc(history: History) -> None:
    """Times come back as aware UTC datetimes."""
    history.add([entry("a")])
    got = history.page().items[0].reaped_at
    assert got.utcoffset() == timedelta(0) and got == datetime.fromisoformat(
        "2025-06-01T12:00:00+00:00"
    )
