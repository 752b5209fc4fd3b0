"""Notifications end to end on real parts, delivered by the real Apprise and ntfy's HTTP API.

Real hook payloads (tests/fixtures) -> ``sessionbeat publish`` -> agent -> Mosquitto ->
``sessionbeat aggregator`` with ``SESSIONBEAT_NOTIFY_URLS`` pointing a ``json://`` (Apprise's
JSON webhook plugin) and an ``ntfy://`` URL at a local HTTP server this test starts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.conftest import real_hook, short_tmpdir
from tests.notifier.receiver import Receiver
from tests.procs import Agent, Aggregator, wait_until

pytestmark = pytest.mark.slow

GRACE = 1.5
PUBLIC = "http://phone.example:8501"
HOSTS = iter(range(1_000_000))


def ask(agent: Agent, session_id: str) -> None:
    """The session asks to run ``touch made.txt`` (a real PermissionRequest)."""
    assert agent.publish(real_hook("hook-PermissionRequest-1", session_id)).returncode == 0


def answer(agent: Agent, session_id: str) -> None:
    """The approval is answered at the terminal: the tool ran (a real PostToolUse)."""
    assert agent.publish(real_hook("hook-PostToolUse-1", session_id)).returncode == 0


class Stack:
    """A receiver, an agent and an aggregator notifying the receiver."""

    def __init__(self, broker: LocalBroker, receiver: Receiver, root: Path, **env: str) -> None:
        self.broker = broker
        self.receiver = receiver
        self.root = root
        self.env = {
            "SESSIONBEAT_NOTIFY_URLS": (
                f"json://127.0.0.1:{receiver.port}/hook ntfy://127.0.0.1:{receiver.port}/alerts"
            ),
            "SESSIONBEAT_NOTIFY_GRACE": str(GRACE),
            "SESSIONBEAT_PUBLIC_URL": PUBLIC,
            "SESSIONBEAT_NOTIFY_TIMEOUT": "2",
            **env,
        }
        self.host = f"notify-host-{next(HOSTS)}"
        self.agent = Agent(broker.url, root / "agent", self.host, SESSIONBEAT_INCLUDE_DETAIL="true")
        self.aggregator = self.start_aggregator()

    def start_aggregator(self) -> Aggregator:
        """Start (or restart) the aggregator on the same state dir."""
        aggregator = Aggregator(self.broker.url, self.root / "aggregator", **self.env)
        wait_until(lambda: aggregator.get("/healthz")["broker_connected"], 20)
        return aggregator

    def live(self, session_id: str, status: str) -> None:
        """Wait until the aggregator shows ``session_id`` with ``status``."""
        wait_until(
            lambda: self.aggregator.sessions().get(session_id, {}).get("status") == status, 20
        )

    def stop(self) -> None:
        """Stop both processes."""
        self.agent.stop()
        self.aggregator.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server recording what the notification services would get."""
    with Receiver() as r:
        yield r


@pytest.fixture
def stack(broker: LocalBroker, receiver: Receiver) -> Iterator[Stack]:
    """Agent + aggregator with notifications to ``receiver``."""
    s = Stack(broker, receiver, short_tmpdir("sb-notify-"))
    try:
        yield s
    finally:
        s.stop()


def test_an_approval_pushes_one_message_after_the_grace_period(
    stack: Stack, receiver: Receiver
) -> None:
    """One waiting approval: exactly one message per service, with host, repo, tool, link."""
    sid = str(uuid.uuid4())
    asked = time.time()
    ask(stack.agent, sid)
    stack.live(sid, "needs_approval")
    (hook,) = receiver.wait_for(1, "POST", "/hook")
    (ntfy,) = receiver.wait_for(1, "POST", "/alerts")
    assert hook.at - asked >= GRACE
    body = hook.json()
    assert body["title"] == f"{stack.host} · demo needs approval"
    assert "Bash: touch made.txt" in body["message"]
    assert f"{PUBLIC}/?session={sid}&shost={stack.host}" in body["message"]
    assert ntfy.headers["X-Sequence-ID"].startswith("sb-")
    assert ntfy.headers["Click"] == f"{PUBLIC}/?session={sid}&shost={stack.host}"
    assert "Bash: touch made.txt" in ntfy.body.decode()
    time.sleep(GRACE * 2)
    assert len(receiver.matching("POST")) == 2
    status = stack.aggregator.get("/notify")
    assert status["counts"]["needs_approval"]["sent"] == 2
    assert status["latency_count"] == 1


def test_an_approval_answered_within_the_grace_period_sends_nothing(
    broker: LocalBroker, receiver: Receiver
) -> None:
    """Approve at the terminal at once: the phone stays silent."""
    stack = Stack(broker, receiver, short_tmpdir("sb-notify-"), SESSIONBEAT_NOTIFY_GRACE="4")
    try:
        sid = str(uuid.uuid4())
        ask(stack.agent, sid)
        answer(stack.agent, sid)
        stack.live(sid, "working")
        time.sleep(6)
        assert receiver.requests == []
    finally:
        stack.stop()


def test_three_approvals_at_once_send_one_batched_message(stack: Stack, receiver: Receiver) -> None:
    """Three sessions needing approval together make one "3 sessions need you" message."""
    sids = [str(uuid.uuid4()) for _ in range(3)]
    for sid in sids:
        ask(stack.agent, sid)
    (hook,) = receiver.wait_for(1, "POST", "/hook")
    assert hook.json()["title"] == "3 sessions need you"
    assert hook.json()["message"].count(stack.host) == 3
    time.sleep(GRACE * 2)
    assert len(receiver.matching("POST", "/hook")) == 1


def test_an_answered_approval_is_withdrawn_from_ntfy(stack: Stack, receiver: Receiver) -> None:
    """Answered after the push: ntfy gets a DELETE for the message's sequence id."""
    sid = str(uuid.uuid4())
    ask(stack.agent, sid)
    (sent,) = receiver.wait_for(1, "POST", "/alerts")
    answer(stack.agent, sid)
    (deleted,) = receiver.wait_for(1, "DELETE", "/alerts")
    assert deleted.path == f"/alerts/{sent.headers['X-Sequence-ID']}"
    assert receiver.matching("DELETE", "/hook") == []  # a webhook cannot withdraw
    wait_until(
        lambda: stack.aggregator.get("/notify")["counts"]["needs_approval"].get("withdrawn"), 10
    )


def test_an_aggregator_restart_sends_nothing_again(stack: Stack, receiver: Receiver) -> None:
    """The sent approval survives a restart in the SQLite ledger: no second message."""
    sid = str(uuid.uuid4())
    ask(stack.agent, sid)
    receiver.wait_for(2, "POST")
    stack.aggregator.stop()
    stack.aggregator = stack.start_aggregator()
    stack.live(sid, "needs_approval")
    time.sleep(GRACE * 3)
    assert len(receiver.matching("POST")) == 2
    answer(stack.agent, sid)
    receiver.wait_for(1, "DELETE", "/alerts")  # the restarted one still withdraws it


def test_a_failing_service_is_retried_counted_and_ingest_goes_on(
    broker: LocalBroker, receiver: Receiver
) -> None:
    """A service answering 500 twice is retried until it takes the message; counted."""
    receiver.fail_next = 2
    stack = Stack(
        broker,
        receiver,
        short_tmpdir("sb-notify-"),
        SESSIONBEAT_NOTIFY_URLS=f"json://127.0.0.1:{receiver.port}/hook",
    )
    try:
        sid = str(uuid.uuid4())
        ask(stack.agent, sid)
        receiver.wait_for(3, "POST", "/hook", timeout=30)
        wait_until(
            lambda: stack.aggregator.get("/notify")["counts"]["needs_approval"].get("sent"), 10
        )
        status = stack.aggregator.get("/notify")
        assert status["counts"]["needs_approval"]["retried"] == 2
        assert status["targets"][0]["last_result"] == "sent"
        metrics = stack.aggregator.get_text("/metrics")
        assert 'sessionbeat_notifications_total{kind="needs_approval",result="retried"} 2.0' in (
            metrics
        )
    finally:
        stack.stop()


def test_a_hanging_service_never_blocks_ingest(broker: LocalBroker, receiver: Receiver) -> None:
    """While the service hangs, new sessions keep arriving in the API; the error shows."""
    receiver.hang_seconds = 30
    stack = Stack(
        broker,
        receiver,
        short_tmpdir("sb-notify-"),
        SESSIONBEAT_NOTIFY_URLS=f"json://127.0.0.1:{receiver.port}/hook",
        SESSIONBEAT_NOTIFY_TIMEOUT="1",
    )
    try:
        first = str(uuid.uuid4())
        ask(stack.agent, first)
        receiver.wait_for(1, "POST", "/hook")
        others = [str(uuid.uuid4()) for _ in range(20)]
        for sid in others:
            answer(stack.agent, sid)
        wait_until(lambda: set(others) <= set(stack.aggregator.sessions()), 20)
        wait_until(lambda: stack.aggregator.get("/notify")["last_error"], 20)
        assert "json" in stack.aggregator.get("/notify")["last_error"].lower()
    finally:
        stack.stop()
