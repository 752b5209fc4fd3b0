"""What the state shares between sessions to keep memory per session low, and what stays whole.

Issue 15 (part 0): parsed beats share their set of explicitly set fields and their host and
session id strings, and the timeline is a bounded list (docs/architecture.md, "Memory per
session"). These tests show that sharing changes nothing a reader of the state sees.
"""

from __future__ import annotations

from itertools import combinations

import pytest

from sessionbeat import wire
from sessionbeat.aggregator import views
from sessionbeat.aggregator.state import (
    TIMELINE_LENGTH,
    AggregatorState,
    Outcome,
    apply,
)
from sessionbeat.models import PublishedStatus, SessionBeat, SessionStatus
from tests.aggregator.support import at, beat
from tests.aggregator.support import beat_message as msg

H = "kai-server"


def payload(b: SessionBeat) -> bytes:
    return b.model_dump_json(exclude_none=True).encode()


def test_sessions_of_one_shape_keep_their_own_values_in_views() -> None:
    """Two sessions whose beats have the same fields still show each its own repo, task, tool."""
    state = AggregatorState()
    apply(state, msg(beat(H, "s1", repo="api", branch="main", task="fix", tool="Bash")), at(0))
    apply(state, msg(beat(H, "s2", repo="web", branch="dev", task="docs", tool="Read")), at(0))
    one = views.session_view(state.sessions[(H, "s1")], None, at(1), state)
    two = views.session_view(state.sessions[(H, "s2")], None, at(1), state)
    assert (one.session_id, one.repo, one.branch, one.task, one.tool) == (
        "s1",
        "api",
        "main",
        "fix",
        "Bash",
    )
    assert (two.session_id, two.repo, two.branch, two.task, two.tool) == (
        "s2",
        "web",
        "dev",
        "docs",
        "Read",
    )
    beats = [state.sessions[(H, s)].beat for s in ("s1", "s2")]
    assert beats[0].model_fields_set is beats[1].model_fields_set  # shared, one per shape
    assert beats[0].host is beats[1].host  # one string per host


def test_a_parsed_beat_knows_which_fields_were_sent() -> None:
    """model_fields_set of a parsed beat names exactly the fields of its payload."""
    sent = beat(H, "s1", repo="api", tool="Bash", seq=3)
    parsed = wire.parse_session_beat(payload(sent), H, "s1")
    other = wire.parse_session_beat(payload(beat(H, "s2", repo="web")), H, "s2")
    assert parsed.model_fields_set == {
        "v",
        "host",
        "session_id",
        "status",
        "seq",
        "sent_at",
        "repo",
        "tool",
        "subagents",
        "status_source",
        "heartbeat",
    }
    assert "tool" not in other.model_fields_set
    assert parsed == sent


def test_a_copy_of_a_parsed_beat_can_be_changed_alone() -> None:
    """model_copy(update=...) of a parsed beat records its update; beats it shared with don't."""
    one = wire.parse_session_beat(payload(beat(H, "s1", repo="api")), H, "s1")
    two = wire.parse_session_beat(payload(beat(H, "s2", repo="web")), H, "s2")
    changed = one.model_copy(update={"tool": "Bash"})
    deep = one.model_copy(update={"task": "t"}, deep=True)
    assert (changed.tool, "tool" in changed.model_fields_set) == ("Bash", True)
    assert (deep.task, "task" in deep.model_fields_set) == ("t", True)
    assert "tool" not in one.model_fields_set | two.model_fields_set
    assert "task" not in one.model_fields_set | two.model_fields_set


def test_a_parsed_beat_is_read_only() -> None:
    """Assigning a field of a parsed beat fails loudly instead of touching other beats' fields."""
    one = wire.parse_session_beat(payload(beat(H, "s1")), H, "s1")
    two = wire.parse_session_beat(payload(beat(H, "s2")), H, "s2")
    with pytest.raises(AttributeError):
        one.tool = "Bash"
    assert "tool" not in two.model_fields_set


def test_unknown_wire_fields_are_still_kept() -> None:
    """A beat from a newer agent with a field this version does not know is accepted and kept."""
    state = AggregatorState()
    newer = beat(H, "s1", repo="api", future_field={"x": 1})
    applied = apply(state, msg(newer), at(0))
    apply(state, msg(beat(H, "s2", repo="api")), at(0))
    kept = state.sessions[(H, "s1")].beat
    assert applied.outcome is Outcome.ACCEPTED
    assert kept.model_extra == {"future_field": {"x": 1}}
    assert "future_field" in kept.model_fields_set
    assert "future_field" not in state.sessions[(H, "s2")].beat.model_fields_set
    assert views.session_view(state.sessions[(H, "s1")], None, at(1), state).repo == "api"


def test_many_payload_shapes_keep_a_bounded_number_of_shared_sets() -> None:
    """A publisher sending thousands of different field combinations cannot grow the cache."""
    optional = ["repo", "branch", "cwd", "tool", "task", "model", "tmux", "detail", "event", "pid"]
    shapes = [c for k in range(len(optional) + 1) for c in combinations(optional, k)]
    shapes += [(*c, "entrypoint") for c in shapes]
    assert len(shapes) > wire._MAX_SHAPES
    for i, shape in enumerate(shapes):
        b = beat(H, f"s{i}", **{name: 1 if name == "pid" else "x" for name in shape})
        parsed = wire.parse_session_beat(payload(b), H, f"s{i}")
        assert parsed.model_fields_set >= set(shape)
    assert sum(map(len, wire._SHAPES.values())) <= wire._MAX_SHAPES


def test_the_timeline_keeps_the_last_changes() -> None:
    """A session that changed status more often than the bound shows its latest changes in order."""
    state = AggregatorState()
    flips = [PublishedStatus.WORKING, PublishedStatus.NEEDS_APPROVAL]
    changes = TIMELINE_LENGTH + 7
    for i in range(changes):
        apply(state, msg(beat(H, "s1", status=flips[i % 2], seq=i + 1, sent_at=at(i))), at(i))
    record = state.sessions[(H, "s1")]
    detail = views.session_detail(record, None, at(changes), state)
    assert [c.at for c in detail.timeline] == [at(i) for i in range(7, changes)]
    assert detail.timeline[-1].status is SessionStatus(flips[(changes - 1) % 2].value)
    assert len(record.timeline) == TIMELINE_LENGTH
