"""The agent's offline spool and session store (publisher/spool.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sessionbeat.models import MAX_PAYLOAD_BYTES
from sessionbeat.publisher.session import new_session
from sessionbeat.publisher.spool import SessionStore, Spool, SpoolRecord, _encode
from tests.conftest import short_tmpdir


def topic(name: str) -> str:
    """A session topic of host ``h`` (the spool keeps nothing else)."""
    return f"sessionbeat/v1/h/sessions/{name}"


def rec(name: str, n: int) -> SpoolRecord:
    """A spool record on session ``name``'s topic, payload ``{"n": n}``, made at ``n`` s."""
    return SpoolRecord(topic(name), f'{{"n":{n}}}'.encode(), float(n))


def test_records_survive_a_restart_in_order() -> None:
    """What was spooled is read back in order by a new Spool on the same file."""
    path = short_tmpdir() / "spool.jsonl"
    spool = Spool(path, 1 << 20)
    for n in range(5):
        assert spool.append(rec(f"t{n % 2}", n))
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
        spool.append(rec(f"s{n % 3}", n))
    kept = spool.read()
    assert {r.topic: r.created for r in kept} == {
        topic("s0"): 39.0,
        topic("s1"): 37.0,
        topic("s2"): 38.0,
    }
    assert spool.dropped == 0


def test_budget_too_small_for_all_sessions_drops_oldest_and_counts() -> None:
    """If even one beat per session does not fit, the oldest go and are counted."""
    spool = Spool(short_tmpdir() / "spool.jsonl", 200)
    for n in range(10):
        spool.append(rec(f"s{n}", n))
    assert spool.dropped > 0
    assert spool.read()[-1].created == 9.0
    assert spool.size() <= 200


def test_torn_last_line_is_skipped() -> None:
    """A line cut by a crash mid-write does not poison the rest."""
    path = short_tmpdir() / "spool.jsonl"
    spool = Spool(path, 1 << 20)
    spool.append(rec("a", 1))
    with path.open("ab") as f:
        f.write(b'{"t":"sessionbeat/v1/h/sessions/a","p":"{\\"n')
    assert [r.created for r in spool.read()] == [1.0]
    assert spool.skipped == 1
    spool.append(rec("a", 2))  # never glued onto the cut line
    assert [r.created for r in spool.read()] == [1.0, 2.0]
    assert spool.skipped == 1  # the cut line was dropped from the file when first met


def test_full_disk_is_counted_not_raised() -> None:
    """Writing where the kernel refuses (here /dev/full, ENOSPC) is counted, never raised."""
    spool = Spool(Path("/dev/full"), 1 << 20)
    assert spool.append(rec("a", 1)) is True  # kept in memory
    assert spool.append(rec("a", 2)) is True
    assert spool.errors == 1  # the second went to memory behind the first, without a write
    assert (spool.in_memory, [r.created for r in spool.read()]) == (2, [1.0, 2.0])


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


def test_unusable_lines_are_skipped_counted_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Garbage, a payload over 64 KiB, a wildcard topic, a line of megabytes: skipped once."""
    path = short_tmpdir() / "spool.jsonl"
    good = _encode(rec("a", 1))
    path.write_bytes(
        b"not json\n"
        + _encode(SpoolRecord(topic("a"), b"x" * (MAX_PAYLOAD_BYTES + 1), 2.0))
        + _encode(SpoolRecord("sessionbeat/v1/h/sessions/#", b"{}", 3.0))
        + b"y" * (8 * 1024 * 1024)
        + b"\n"
        + good
    )
    spool = Spool(path, 1 << 20)
    with caplog.at_level(logging.WARNING, "sessionbeat.publisher.spool"):
        assert [r.created for r in spool.read()] == [1.0]
        assert [r.created for r in spool.read()] == [1.0]
    assert spool.skipped == 4
    assert path.read_bytes() == good  # the file keeps only what can be sent
    assert [r.message for r in caplog.records].count(
        f"skipped 4 unusable spool lines in {path} (not JSON, over {MAX_PAYLOAD_BYTES} bytes, "
        "or not a session topic); counting more as spool_skipped"
    ) == 1


def test_a_payload_no_broker_takes_is_never_spooled() -> None:
    """A payload over 64 KiB is refused and counted: it could never be sent."""
    spool = Spool(short_tmpdir() / "spool.jsonl", 1 << 20)
    assert spool.append(SpoolRecord(topic("a"), b"x" * (MAX_PAYLOAD_BYTES + 1), 1.0)) is False
    assert (spool.dropped, spool.read()) == (1, [])


def test_when_the_disk_refuses_records_wait_in_memory_in_order() -> None:
    """Disk first, then memory: the order holds across a full disk, and replay empties both."""
    path = short_tmpdir() / "spool.jsonl"
    spool = Spool(path, 1 << 20)
    spool.append(rec("a", 1))
    spool.path = Path("/dev/full")  # the disk is full from now on
    for n in (2, 3):
        assert spool.append(rec("a", n))
    spool.path = path  # space again: still behind the ones in memory
    assert spool.append(rec("b", 4))
    assert [r.created for r in spool.read()] == [1.0, 2.0, 3.0, 4.0]
    assert (spool.errors, spool.in_memory) == (1, 3)
    spool.remove_first(2)
    assert [r.created for r in spool.read()] == [3.0, 4.0] and not path.exists()
    spool.remove_first(2)
    assert spool.size() == 0 and spool.in_memory == 0
    assert spool.append(rec("a", 5)) and path.exists()  # back on disk


def test_the_memory_queue_is_bounded_too() -> None:
    """Past the budget in memory: the newest beat per topic, then the oldest dropped, counted."""
    spool = Spool(Path("/dev/full"), 300)
    for n in range(30):
        spool.append(rec(f"s{n % 5}", n))
    kept = spool.read()
    assert spool.size() <= 300 and spool.dropped > 0
    assert kept[-1].created == 29.0
    assert len({r.topic for r in kept}) == len(kept)  # one per session after compaction
