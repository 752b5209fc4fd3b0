"""A real aggregator on a real broker fed garbage keeps serving and counts every rejection."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import Publisher, ServedApi, running, unique_host, wait_until
from tests.conftest import short_tmpdir

HOST = unique_host("fuzz")

# Topics the broker accepts from a publisher (no wildcards, no control characters, valid UTF-8;
# mosquitto disconnects a client that sends others), some of them
# shaped like ours so that payload checks run too.
topic_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="#+\x00"),
    min_size=1,
    max_size=60,
)
topics_ = st.one_of(
    topic_text.map(lambda t: f"fuzz/{t}"),
    topic_text.map(lambda t: f"sessionbeat/v1/{HOST}/{t}"),
    st.just(f"sessionbeat/v1/{HOST}/sessions/s1"),
    st.just(f"sessionbeat/v1/{HOST}/status"),
)
payloads = st.one_of(
    st.binary(min_size=1, max_size=400),
    st.text(min_size=1, max_size=200).map(str.encode),
    st.just(b"{}"),
    st.just(b'{"v":1,"host":"other","session_id":"s1","status":"working","seq":1}'),
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[AggregatorService, ServedApi, Publisher]]:
    """One service, API and publisher for all examples (hypothesis reruns the test body).

    On a broker of its own: the test counts every message the aggregator receives, and on the
    shared broker a Last Will of an agent an earlier test killed can still arrive.
    """
    with LocalBroker(short_tmpdir("sb-fuzzbroker-")) as broker:
        publisher = Publisher(broker)
        with running(broker, short_tmpdir("sb-fuzz-")) as (service, api):
            yield service, api, publisher
        publisher.close()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(topic=topics_, payload=payloads)
def test_garbage_is_counted_and_service_keeps_serving(
    fuzzed: tuple[AggregatorService, ServedApi, Publisher], topic: str, payload: bytes
) -> None:
    """Any payload on our topics is received and counted, none on others; /healthz stays 200."""
    service, api, publisher = fuzzed
    before = service.snapshot().counters
    publisher.raw(topic, payload, retain=False)
    ours = topic.startswith("sessionbeat/")
    if not ours:
        # fuzz/ topics are outside the aggregator's subscription: they must not be received.
        # A marker (rejected: no such topic of ours) sent after it on the same connection
        # arrives after it would have; then the counters show the marker alone.
        publisher.raw(f"sessionbeat/v1/{HOST}/marker", b"marker", retain=False)
    wait_until(lambda: service.snapshot().counters.received > before.received, what="received")
    counters = service.snapshot().counters
    assert counters.received == before.received + 1
    if not ours:
        assert sum(counters.rejected.values()) == sum(before.rejected.values()) + 1
    assert (
        counters.received
        == counters.accepted
        + sum(counters.rejected.values())
        + counters.out_of_order
        + counters.stale_deaths
    )
    assert httpx.get(f"{api.url}/healthz").status_code == 200
