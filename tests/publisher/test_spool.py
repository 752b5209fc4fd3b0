"""The agent's offline spool and session store (publisher/spool.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sessionbeat.publisher.session import new_session
from sessionbeat.publisher.spool import SessionStore, Spool, SpoolRecord
from tests.conftest import short_tmpdir


def rec(topic: str, n: int) -> SpoolRecord:
    return SpoolRecord(topic, f'{{"n":{n}}}'.encode(), float(n))


def test_records_survive_a_restart_in_order() -> None:
    """What was spooled is read back in order by a new Spool on the same file."""
    path = short_tmpdir() / "spool.jsonl"
    spool = Spool(path, 1 << 20)
    for n in range(5):
        assert spool.append(rec(f"t/{n % 2}", n))
    again = Spool(path, 1 << 20)
    assert [r.payload for r in again.read()] == [f'{{"n":{n}}}'.encode() for n in range(5)]
    again.remove_first(3)
    assert [r.created for r in again.read()] == [3.0, 4.0]
    again.remove_first(2)
    assert not path.exists() and len(again) == 0


def test_over_budget_keeps_newest_beat_per_topic() -> None:
    """Compaction keeps the final state exact: the newest record of every topic survives."""
    spool = Spool(short_tmpdir() / "spool.jsonl", 400)
    for n in range(40):
        spool.append(rec(f"s/{n % 3}", n))
    kept = spool.read()
    assert {r.topic: r.created for r in kept} == {"s/0": 39.0, "s/1": 37.0, "s/2": 38.0}
    assert spool.dropped == 0


def test_budget_too_small_for_all_sessions_drops_oldest_and_counts() -> None:
    """If even one beat per session does not fit, the oldest go and are counted."""
    spool = Spool(short_tmpdir() / "spool.jsonl", 100)
    for n in range(10):
        spool.append(rec(f"s/{n}", n))
    assert spool.dropped > 0
    assert spool.read()[-1].created == 9.0
    assert spool.size() <= 100


def test_torn_last_line_is_skipped() -> None:
    """A line cut by a crash mid-write does not poison the rest."""
    path = short_tmpdir() / "spool.jsonl"
    spool = Spool(path, 1 << 20)
    spool.append(rec("a", 1))
    with path.open("ab") as f:
        f.write(b'{"t":"a","p":"{\\"n')
    assert [r.created for r in spool.read()] == [1.0]


def test_full_disk_is_counted_not_raised() -> None:
    """Writing where the kernel refuses (here /dev/full, ENOSPC) is counted, never raised."""
    spool = Spool(Path("/dev/full"), 1 << 20)
    assert spool.append(rec("a", 1)) is False
    assert spool.append(rec("a", 2)) is False
    assert spool.errors == 2


def test_session_store_round_trip_and_bad_files() -> None:
    """Sessions saved are loaded back; an unreadable file is skipped, not fatal."""
    directory = short_tmpdir() / "sessions"
    store = SessionStore(directory)
    at = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    s = new_session("abc", "kai-server", at)
    s.seq = 7
    store.save(s)
    (directory / "broken.json").write_text("{")
    loaded = store.load_all()
    assert [(x.session_id, x.seq, x.started_at) for x in loaded] == [("abc", 7, at)]
    store.delete("abc")
    assert store.load_all() == []


def test_session_store_on_full_disk_counts_errors() -> None:
    """A store that cannot write counts the failure and keeps going."""
    store = SessionStore(Path("/dev/full/sessions"))
    store.save(new_session("abc", "h", datetime.now(UTC)))
    assert store.errors == 1
