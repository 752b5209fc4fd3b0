"""A corrupt or unwritable history loses no reaped session and says so (issue 12, item 4).

The store alone first (a garbage file, corruption found while running, a path that cannot be
written, the bound of the memory buffer), then a real aggregator with its served API on the
test broker: the file moved aside and named in the log, the session kept and written once the
history works again, ``/healthz`` degraded with the reason and ``/readyz`` 503 meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import httpx
import pytest

from sessionbeat.aggregator.history import History
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.errors import HistoryUnavailableError
from tests.aggregator.support import (
    ManualClock,
    Publisher,
    beat,
    running,
    unique_host,
    wait_until,
)
from tests.aggregator.test_history import entry

GARBAGE = b"this is not an SQLite database\n" * 200
LOGGER = "sessionbeat.aggregator.history"


def asides(path: Path) -> list[Path]:
    """The files a corrupt history at ``path`` was moved to (their -wal/-shm left out)."""
    found = path.parent.glob(f"{path.name}.corrupt-*")
    return sorted(p for p in found if not p.name.endswith(("-wal", "-shm")))


def test_a_garbage_file_is_moved_aside_and_a_fresh_history_started(
    tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening a file that is not a database keeps it under a new name (logged) and starts anew."""
    path = tmp / "history.sqlite3"
    path.write_bytes(GARBAGE)
    h = History(path, keep_days=30, clock=clock)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert h.open()
    (aside,) = asides(path)
    assert aside.read_bytes() == GARBAGE
    assert str(aside) in "\n".join(r.getMessage() for r in caplog.records if r.levelno >= 40)
    assert h.add([entry("a")]) == 1
    assert [e.session_id for e in h.page().items] == ["a"]
    assert h.ok
    assert any("corrupt" in p and aside.name in p for p in h.problems())


def test_corruption_found_while_running_moves_the_file_aside_and_keeps_the_entry(
    tmp: Path, clock: ManualClock
) -> None:
    """A write that finds the database malformed moves it aside; the entry lands in a new one."""
    path = tmp / "history.sqlite3"
    h = History(path, keep_days=30, clock=clock)
    assert h.open()
    h.add([entry(f"old{i}", minutes=i).model_copy(update={"task": "x" * 500}) for i in range(300)])
    h.close()  # a cold page cache: the next statements read the damaged pages from disk
    assert h.open()
    with path.open("r+b") as f:  # keep the header page, garble every page after it
        f.seek(4096)
        f.write(b"\xff" * (path.stat().st_size - 4096))
    assert h.add([entry("new", minutes=999)]) == 1
    assert len(asides(path)) == 1
    assert [e.session_id for e in h.page().items] == ["new"]
    assert h.errors == 0


def test_unwritable_history_keeps_entries_in_memory_until_it_works(
    tmp: Path, clock: ManualClock
) -> None:
    """Entries that cannot be written wait in memory, are found by id, and are written later."""
    blocker = tmp / "state"
    blocker.write_text("a file where the history's directory should be")
    h = History(blocker / "history.sqlite3", keep_days=30, clock=clock, retry_interval=0)
    assert not h.open()
    assert h.add([entry("a"), entry("b", minutes=1)]) == 0
    assert h.pending == 2
    found = h.find("b")
    assert found is not None and found.session_id == "b"
    assert not h.ok
    assert any("not writable" in p for p in h.problems())
    blocker.unlink()
    blocker.mkdir()
    assert h.flush() == 2
    assert (h.pending, h.ok, h.problems()) == (0, True, [])
    assert [e.session_id for e in h.page().items] == ["b", "a"]


def test_the_memory_buffer_is_bounded_and_says_when_it_dropped(
    tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond max_pending entries the oldest are dropped, counted and logged once."""
    blocker = tmp / "file"
    blocker.write_text("x")
    h = History(blocker / "h.sqlite3", keep_days=30, clock=clock, max_pending=3)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for i in range(5):
            h.add([entry(f"s{i}", minutes=i)])
    assert h.pending == 3
    assert h.dropped == 2
    assert h.find("s4") is not None
    with pytest.raises(HistoryUnavailableError):  # s0 was dropped: only the database could say
        h.find("s0")
    dropped_logs = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert [r.levelno for r in dropped_logs][:1] == [logging.ERROR]
    assert any("dropped" in p for p in h.problems())


def test_aggregator_on_a_corrupt_history_moves_it_aside_and_says_so(
    own_broker: LocalBroker, tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Started on garbage, the aggregator keeps the file, logs where, reaps into a fresh one."""
    path = tmp / "history.sqlite3"
    path.write_bytes(GARBAGE)
    host = unique_host()
    publisher = Publisher(own_broker)
    with (
        caplog.at_level(logging.INFO, logger=LOGGER),
        running(own_broker, tmp, clock=clock, ended_linger=1) as (_service, api),
        contextlib.closing(publisher),
    ):
        (aside,) = asides(path)
        assert aside.read_bytes() == GARBAGE
        assert any(str(aside) in r.getMessage() for r in caplog.records)
        publisher.beat(beat(host, "s1", status="ended", repo="web"))
        wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"all": "true"}).json())
        clock.advance(5)
        wait_until(lambda: httpx.get(f"{api.url}/history/s1").status_code == 200, what="reaped")
        health = httpx.get(f"{api.url}/healthz")
        assert health.status_code == 200
        body = health.json()
        assert (body["status"], body["history_ok"], body["ready"]) == ("degraded", True, True)
        assert any("corrupt" in r and aside.name in r for r in body["reasons"])
        assert httpx.get(f"{api.url}/readyz").status_code == 200


def test_aggregator_keeps_reaped_sessions_until_the_history_is_writable(
    own_broker: LocalBroker, tmp: Path, clock: ManualClock
) -> None:
    """Reaped while the history cannot be written: kept, findable, written when it can be."""
    blocker = tmp / "state"
    blocker.write_text("x")
    history = History(blocker / "h.sqlite3", keep_days=30, clock=clock, retry_interval=0.1)
    host = unique_host()
    publisher = Publisher(own_broker)
    with (
        running(own_broker, tmp, clock=clock, ended_linger=1, history=history) as (service, api),
        contextlib.closing(publisher),
    ):
        publisher.beat(beat(host, "s1", status="ended", repo="web"))
        wait_until(lambda: service.snapshot().sessions, what="session")
        clock.advance(5)
        wait_until(lambda: history.pending == 1, what="reaped into memory")
        health = httpx.get(f"{api.url}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "degraded"
        assert any("history not writable" in r for r in health.json()["reasons"])
        ready = httpx.get(f"{api.url}/readyz")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert httpx.get(f"{api.url}/history/s1").json()["repo"] == "web"  # from memory
        blocker.unlink()
        blocker.mkdir()
        wait_until(lambda: history.pending == 0, what="flushed")
        assert httpx.get(f"{api.url}/history").json()["total"] == 1
        assert httpx.get(f"{api.url}/readyz").status_code == 200
        healthy = httpx.get(f"{api.url}/healthz").json()
        assert (healthy["status"], healthy["reasons"], healthy["ready"]) == ("ok", [], True)


def test_stopping_writes_what_waits_if_it_can(
    broker: LocalBroker, tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop does not wait out the retry interval: what waits is written if the disk allows."""
    from sessionbeat.aggregator.service import AggregatorService
    from tests.aggregator.support import service_settings

    blocker = tmp / "state"
    blocker.write_text("x")
    history = History(blocker / "h.sqlite3", keep_days=30, clock=clock, retry_interval=3600)
    service = AggregatorService(service_settings(broker, tmp), clock, history=history)
    service.start()
    history.add([entry("waiting")])
    assert history.pending == 1
    blocker.unlink()
    blocker.mkdir()
    with caplog.at_level(logging.ERROR, logger="sessionbeat.aggregator.reaper"):
        service.stop()
    assert history.pending == 0
    assert not [r for r in caplog.records if "never written" in r.getMessage()]
    assert [e.session_id for e in History(blocker / "h.sqlite3", keep_days=30).page().items] == [
        "waiting"
    ]
