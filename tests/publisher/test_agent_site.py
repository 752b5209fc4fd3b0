"""The agent names its site in every host status: birth, Last Will and clean offline."""

from __future__ import annotations

import json
import signal
from typing import Any

from sessionbeat import topics
from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import Publisher, Watcher, unique_host
from tests.conftest import short_tmpdir
from tests.procs import Agent, wait_until


def statuses(watcher: Watcher, host: str) -> list[dict[str, Any]]:
    """Every non-empty status payload of ``host`` seen so far, oldest first."""
    topic = topics.status_topic(host)
    return [json.loads(p) for t, p, _r in watcher.messages if t == topic and p]


def test_birth_will_and_clean_offline_carry_the_site(broker: LocalBroker) -> None:
    """With SESSIONBEAT_SITE set, the aggregator can tell which bridge a host is behind."""
    host = unique_host("site")
    state_dir = short_tmpdir() / host
    watcher = Watcher(broker, topics.status_topic(host))
    agent = Agent(broker.url, state_dir, host, SESSIONBEAT_SITE="office")
    try:
        birth = wait_until(lambda: [s for s in statuses(watcher, host) if s["state"] == "online"])
        assert birth[-1]["site"] == "office"
        agent.signal(signal.SIGKILL)  # the broker publishes the Last Will
        agent.stop()
        will = wait_until(lambda: [s for s in statuses(watcher, host) if s["state"] == "offline"])
        assert will[-1]["site"] == "office"
        agent = Agent(broker.url, state_dir, host, SESSIONBEAT_SITE="office")
        wait_until(lambda: statuses(watcher, host)[-1]["state"] == "online")
        agent.stop()  # SIGTERM: the agent publishes offline itself
        clean = wait_until(
            lambda: (
                statuses(watcher, host)[-1]["state"] == "offline" and statuses(watcher, host)[-1]
            )
        )
        assert clean["site"] == "office"
        assert clean["bdseq"] > will[-1]["bdseq"]
    finally:
        agent.stop()
        watcher.close()
        cleaner = Publisher(broker)
        cleaner.retained.add(topics.status_topic(host))
        cleaner.close()


def test_no_site_means_no_site_field(broker: LocalBroker) -> None:
    """Without the setting the status has no `site`: the host is on the central broker."""
    host = unique_host("nosite")
    watcher = Watcher(broker, topics.status_topic(host))
    agent = Agent(broker.url, short_tmpdir() / host, host)
    try:
        birth = wait_until(lambda: statuses(watcher, host))
        assert "site" not in birth[-1]
    finally:
        agent.stop()
        watcher.close()
        cleaner = Publisher(broker)
        cleaner.retained.add(topics.status_topic(host))
        cleaner.close()
