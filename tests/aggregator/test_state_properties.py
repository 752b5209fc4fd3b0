"""Property tests: no input crashes the core, its counters add up, senders' clocks do not matter."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionbeat import topics
from sessionbeat.aggregator.state import AggregatorState, Message, Outcome, apply, expire
from sessionbeat.aggregator.views import list_hosts, list_sessions, summarize
from sessionbeat.models import SessionBeat
from tests.aggregator.support import T0, beat

ids = st.sampled_from(["h1", "h2", "x" * 64, "bad id", "", "a/b", "+", "#"])
topic = st.one_of(
    st.text(max_size=80),
    st.builds(lambda h: f"sessionbeat/v1/{h}/status", ids),
    st.builds(lambda h, s: f"sessionbeat/v1/{h}/sessions/{s}", ids, ids),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
statuses = st.sampled_from(["working", "needs_approval", "waiting_for_input", "ended", "x"])
near_valid = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 2, "1"]),
        "host": ids,
        "session_id": ids,
        "status": statuses,
        "seq": st.integers(min_value=-2, max_value=5),
        "sent_at": st.sampled_from(["2025-06-01T12:00:00Z", "2025-06-01T12:00:00", "yesterday"]),
    },
    optional={
        "state": st.sampled_from(["online", "offline", "maybe"]),
        "bdseq": st.integers(min_value=-1, max_value=3),
        "context_tokens": json_values,
        "last_activity_at": st.sampled_from(["2025-06-01T11:00:00Z", 5, None]),
        "status_source": st.sampled_from(["hook", "registry", "other"]),
    },
)


def _payload(value: Any) -> bytes:
    return json.dumps(value).encode() if not isinstance(value, bytes) else value


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(_payload),
    near_valid.map(_payload),
)
messages = st.builds(Message, topic, payloads, st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(messages, st.integers(min_value=0, max_value=4000)), max_size=25))
def test_apply_never_crashes_and_counters_add_up(
    batch: list[tuple[Message, int]],
) -> None:
    """Arbitrary bytes and JSON on any topic never raise; each message is counted once."""
    state = AggregatorState()
    for message, offset in batch:
        now = T0 + timedelta(seconds=offset)
        applied = apply(state, message, now)
        assert isinstance(applied.outcome, Outcome)
        expire(state, now)
        list_sessions(state, now)
        list_hosts(state, now)
        summarize(state, now, broker_connected=True)
    c = state.counters
    assert c.received == len(batch)
    assert c.received == c.accepted + sum(c.rejected.values()) + c.out_of_order + c.stale_deaths


HOUR = 3600
published = st.sampled_from(["working", "needs_approval", "waiting_for_input", "unknown"])
emissions = st.lists(
    st.tuples(
        published,
        st.integers(min_value=-2 * HOUR, max_value=2 * HOUR),  # the host clock's error now
        st.booleans(),  # the agent reconnected before this beat (bdseq + 1)
        st.integers(min_value=1, max_value=30),  # seconds since the last beat, our clock
        st.lists(st.integers(min_value=0, max_value=40), max_size=2),  # earlier beats again
    ),
    min_size=1,
    max_size=30,
)


def _live(b: SessionBeat) -> Message:
    return Message(topics.session_topic(b.host, b.session_id), b.model_dump_json().encode())


@settings(max_examples=200, deadline=None)
@given(emissions)
def test_order_and_expiry_ignore_the_senders_clock(
    steps: list[tuple[str, int, bool, int, list[int]]],
) -> None:
    """Whatever the host's clock says, the API shows the last beat its agent built, never reaped."""
    state = AggregatorState()
    now = T0
    bdseq = 0
    built: list[SessionBeat] = []
    for i, (status, error, reconnect, gap, again) in enumerate(steps):
        bdseq += reconnect
        now += timedelta(seconds=gap)
        b = beat(
            "h1",
            "s1",
            status=status,
            bdseq=bdseq,
            seq=i + 1,
            sent_at=now + timedelta(seconds=error),
        )
        built.append(b)
        apply(state, _live(b), now)
        for j in again:  # spool replays and duplicates of beats already delivered
            if j < i:
                apply(state, _live(built[j]), now)
        assert expire(state, now) == []
        record = state.sessions[("h1", "s1")]
        assert record.beat.seq == i + 1
        assert record.effective.value == status


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-2 * HOUR, max_value=2 * HOUR),
    st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=30),
)
def test_clock_skew_is_the_least_delayed_sample(skew: int, delays: list[float]) -> None:
    """The skew shown for a host is its clock error less the fastest message's transit time."""
    state = AggregatorState()
    for i, delay in enumerate(delays):
        received = T0 + timedelta(seconds=i)
        sent = received + timedelta(seconds=skew - delay)
        apply(state, _live(beat("h1", "s1", bdseq=0, seq=i + 1, sent_at=sent)), received)
    estimate = state.hosts["h1"].skew.seconds
    assert estimate == pytest.approx(skew - min(delays), abs=1e-5)
