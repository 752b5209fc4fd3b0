"""Two real aggregators on one broker: the same sessions on both, exactly one reaps.

Real processes: a real mosquitto, two (or three) ``sessionbeat aggregator`` processes with their
own HTTP ports sharing one SQLite history file (WAL, busy timeout: safe for concurrent
writers), a real agent and real Claude Code hook payloads. Short lease timings come from the
settings (``lease_keepalive`` 1 s, ``lease_settle`` 0.3 s).
"""

from __future__ import annotations

import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.conftest import real_hook, short_tmpdir
from tests.procs import Agent, Aggregator, wait_until

KEEPALIVE = 1
SETTLE = 0.3
HANDOVER = 1.5 * KEEPALIVE + SETTLE
"""Seconds a SIGKILLed holder's lease takes to reach a standby: the broker's keepalive check
(1.5 x keepalive) fires the Last Will, then the new claim settles."""
SLACK = 10.0
"""Hang guard on top of the handover time (a loaded machine), not a timing assertion."""


def _lease_env(history: Path, group: str, keepalive: int = KEEPALIVE) -> dict[str, str]:
    return {
        "SESSIONBEAT_LEASE_GROUP": group,
        "SESSIONBEAT_HISTORY_DB": str(history),
        "SESSIONBEAT_LEASE_KEEPALIVE": str(keepalive),
        "SESSIONBEAT_LEASE_SETTLE": str(SETTLE),
        "SESSIONBEAT_ENDED_LINGER": "0",
    }


def _held(aggregator: Aggregator) -> bool:
    return bool(aggregator.get("/healthz")["lease_held"])


def _holders(aggregators: list[Aggregator]) -> list[Aggregator]:
    return [a for a in aggregators if a.popen.poll() is None and _held(a)]


def _rows(history: Path, session_id: str) -> int:
    db = sqlite3.connect(f"file:{history}?mode=ro", uri=True, timeout=10)
    try:
        (n,) = db.execute(
            "SELECT count(*) FROM reaped_sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(n)
    finally:
        db.close()


class Fleet:
    """Aggregators on one broker and history, a real agent, real hooks."""

    def __init__(self, broker: LocalBroker, keepalive: int = KEEPALIVE) -> None:
        self.root = short_tmpdir("sb-lease-")
        self.broker = broker
        self.history = self.root / "history.sqlite3"
        self.keepalive = keepalive
        self.group = f"t-{uuid.uuid4().hex[:12]}"  # these aggregators share one lease
        self.aggregators: list[Aggregator] = []
        self.agent = Agent(broker.url, self.root / "agent", f"lease-{uuid.uuid4().hex[:8]}")

    def add_aggregator(self) -> Aggregator:
        n = len(self.aggregators)
        aggregator = Aggregator(
            self.broker.url,
            self.root / f"agg{n}",
            **_lease_env(self.history, self.group, self.keepalive),
        )
        self.aggregators.append(aggregator)
        return aggregator

    def live(self) -> list[Aggregator]:
        return [a for a in self.aggregators if a.popen.poll() is None]

    def one_holder(self) -> Aggregator | None:
        holders = _holders(self.aggregators)
        return holders[0] if len(holders) == 1 else None

    def start_session(self, sid: str) -> None:
        result = self.agent.publish(real_hook("hook-SessionStart-1", sid))
        assert result.returncode == 0, result.stderr
        for aggregator in self.live():
            wait_until(lambda a=aggregator: sid in a.sessions(), what=f"{sid} on {aggregator.url}")

    def end_session(self, sid: str) -> None:
        result = self.agent.publish(real_hook("hook-SessionEnd-1", sid))
        assert result.returncode == 0, result.stderr

    def gone_everywhere(self, sid: str) -> bool:
        return all(sid not in a.sessions() for a in self.live())

    def reaped(self, sid: str) -> None:
        """Wait until every live aggregator reaped ``sid`` and its reaper pass has ended.

        A later session's reaping on every aggregator marks the end of the pass that reaped
        ``sid`` (passes run one after another), so a standby's wrong write would be done.
        """
        wait_until(lambda: self.gone_everywhere(sid), what=f"{sid} reaped everywhere")
        marker = f"marker-{uuid.uuid4().hex[:8]}"
        self.start_session(marker)
        self.end_session(marker)
        wait_until(lambda: self.gone_everywhere(marker), what="the marker reaped everywhere")
        wait_until(lambda: _rows(self.history, marker) >= 1, what="the marker written")

    def stop(self) -> None:
        self.agent.stop()
        for aggregator in self.aggregators:
            aggregator.stop()


@pytest.fixture
def fleet(broker: LocalBroker) -> Iterator[Fleet]:
    """Two aggregators (each its own port) on the test broker and one shared history."""
    fleet = Fleet(broker)
    try:
        fleet.add_aggregator()
        fleet.add_aggregator()
        yield fleet
    finally:
        fleet.stop()


def test_two_aggregators_show_the_same_sessions_and_one_writes_the_history(
    fleet: Fleet,
) -> None:
    """Either aggregator answers the same; exactly one reaps: an ended session is written once."""
    holder = wait_until(fleet.one_holder, what="one lease holder")
    fleet.start_session("lease-same-1")
    fleet.start_session("lease-once-1")
    first, second = fleet.aggregators
    assert set(first.sessions()) == set(second.sessions())
    assert first.sessions()["lease-same-1"]["status"] == second.sessions()["lease-same-1"]["status"]
    standby = next(a for a in fleet.aggregators if a is not holder)
    health = standby.get("/healthz")
    assert health["lease_held"] is False
    assert health["lease"].startswith("standby, lease held by")
    assert "sessionbeat_reaper_lease_held 1.0" in holder.get_text("/metrics")
    assert "sessionbeat_reaper_lease_held 0.0" in standby.get_text("/metrics")
    # A SessionEnd reaped by both aggregators lands in the shared history once, not twice.
    fleet.end_session("lease-once-1")
    fleet.reaped("lease-once-1")
    assert _rows(fleet.history, "lease-once-1") == 1
    for aggregator in fleet.aggregators:  # either one answers it behind a load balancer
        assert aggregator.get("/history/lease-once-1")["reap_reason"] == "ended"


@pytest.mark.slow
def test_killing_the_holder_hands_the_lease_to_the_other_which_then_reaps(fleet: Fleet) -> None:
    """SIGKILL of the reaper: its Last Will frees the lease; the other takes it and reaps."""
    holder = wait_until(fleet.one_holder, what="one lease holder")
    other = next(a for a in fleet.aggregators if a is not holder)
    fleet.start_session("lease-kill-1")
    holder.signal(signal.SIGKILL)
    holder.popen.wait(10)
    wait_until(lambda: _held(other), timeout=HANDOVER + SLACK, what="the lease handed over")
    fleet.end_session("lease-kill-1")
    fleet.reaped("lease-kill-1")
    assert _rows(fleet.history, "lease-kill-1") == 1


@pytest.mark.slow
def test_a_clean_stop_of_the_holder_hands_over_at_once(broker: LocalBroker) -> None:
    """SIGTERM of the reaper releases the lease: the standby takes it without waiting it out."""
    fleet = Fleet(broker, keepalive=60)  # a Last Will would take 90 s: only the release is quick
    try:
        fleet.add_aggregator()
        fleet.add_aggregator()
        holder = wait_until(fleet.one_holder, what="one lease holder")
        other = next(a for a in fleet.aggregators if a is not holder)
        assert holder.stop() == 0
        wait_until(lambda: _held(other), timeout=SETTLE + SLACK, what="the lease handed over")
        assert "released the reaper lease" in holder.output()
    finally:
        fleet.stop()
