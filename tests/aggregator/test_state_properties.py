"""Property tests: no input crashes the core, and its counters always add up."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionbeat.aggregator.state import AggregatorState, Message, Outcome, apply, expire
from sessionbeat.aggregator.views import list_hosts, list_sessions, summarize
from tests.aggregator.support import T0

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
