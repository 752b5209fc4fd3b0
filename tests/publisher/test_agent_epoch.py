"""The agent stamps each beat with its birth epoch (bdseq), so order needs no wall clock."""

from __future__ import annotations

import json
from typing import Any

from sessionbeat import topics
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.stack.replay import load_payload
from tests.aggregator.support import Publisher, Watcher, unique_host
from tests.conftest import short_tmpdir
from tests.procs import Agent, wait_until

SID = "7da73774-862d-4897-94a7-ef847ce65033"


def last(watcher: Watcher, topic: str) -> dict[str, Any] | None:
    """Return the last non-empty payload seen on ``topic`` as a dict (None before one)."""
    payloads = [p for t, p, _r in watcher.messages if t == topic and p]
    return json.loads(payloads[-1]) if payloads else None


def test_beats_carry_the_bdseq_of_the_agents_connection(broker: LocalBroker) -> None:
    """A beat says which agent connection built it; after a restart its seq still grows."""
    host = unique_host("epoch")
    state_dir = short_tmpdir() / host
    state_dir.mkdir(parents=True)
    (state_dir / "bdseq").write_text("41\n")  # the next CONNECT is the 42nd
    session_topic = topics.session_topic(host, SID)
    watcher = Watcher(broker, f"sessionbeat/v1/{host}/#")
    agent = Agent(broker.url, state_dir, host)
    try:
        agent.publish(load_payload("hook-SessionStart-1.json"))
        first = wait_until(lambda: last(watcher, session_topic), 20)
        birth = wait_until(lambda: last(watcher, topics.status_topic(host)), 20)
        assert (first["bdseq"], birth["bdseq"]) == (42, 42)
        agent.stop()
        agent = Agent(broker.url, state_dir, host)
        again = wait_until(
            lambda: (b := last(watcher, session_topic)) and b["bdseq"] == 43 and b, 20
        )
        assert again["seq"] > first["seq"]
    finally:
        agent.stop()
        watcher.close()
        cleaner = Publisher(broker)  # leaves no retained state of this host on the shared broker
        cleaner.retained.update({session_topic, topics.status_topic(host)})
        cleaner.close()
