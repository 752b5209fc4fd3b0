"""An aggregator whose broker ACL predates the reaper lease still reaps, and says why.

Real parts: a mosquitto with an ACL that gives the (anonymous) aggregator only
``sessionbeat/v1/#``, as the ACL files written before the lease did, and a real service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionbeat.aggregator.lease import ALONE_TEXT
from sessionbeat.aggregator.views import SessionFilter
from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import ManualClock, Publisher, beat, running, unique_host
from tests.conftest import short_tmpdir
from tests.procs import wait_until


@pytest.fixture
def old_acl_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker whose ACL allows only the topic tree of before the lease."""
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite sessionbeat/v1/#\n", encoding="utf-8")
    b = LocalBroker(short_tmpdir("sb-aclbroker-"), extra_config=f"acl_file {acl}\n")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def test_a_refused_lease_topic_leaves_the_aggregator_reaping_alone(
    old_acl_broker: LocalBroker,
) -> None:
    """The ended session is still written to the history; /healthz says it acts alone."""
    clock = ManualClock()
    host = unique_host("acl")
    publisher = Publisher(old_acl_broker)
    try:
        with running(old_acl_broker, short_tmpdir("sb-acl-"), clock=clock, ended_linger=1) as (
            service,
            _api,
        ):
            wait_until(lambda: service.health().lease == ALONE_TEXT, what="the refusal")
            assert service.health().lease_held is True
            publisher.beat(beat(host, "done-1", status="ended"))
            wait_until(
                lambda: service.sessions(SessionFilter(host=host, all=True)), what="the session"
            )
            clock.advance(5)
            wait_until(lambda: service.history.page(host=host).total == 1, what="reaped")
    finally:
        publisher.close()
