"""The wire models: what a publisher may send and what the aggregator keeps, old names too."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sessionbeat.models import HostStatus, SessionBeat, SessionView


def _beat(sent_at: object) -> SessionBeat:
    return SessionBeat.model_validate(
        {"host": "h", "session_id": "s", "status": "working", "seq": 1, "sent_at": sent_at}
    )


@pytest.mark.parametrize(
    "text", ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00+00:00", "2026-11-25T12:00:00+02:00"]
)
def test_aware_times_become_the_same_utc_instant(text: str) -> None:
    """Z, +00:00 and another offset all give one UTC time that serializes with Z."""
    sent_at = _beat(text).sent_at
    assert sent_at == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert sent_at.utcoffset() == timedelta(0)
    assert '"sent_at":"2026-11-25T10:00:00Z"' in _beat(text).model_dump_json()


def test_a_naive_time_means_utc() -> None:
    """A time without an offset is read as UTC and can be compared with aware times."""
    sent_at = _beat("2026-11-25T10:00:00").sent_at
    assert sent_at.utcoffset() == timedelta(0)
    assert sent_at < datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC)


def test_a_garbage_time_is_one_clear_error() -> None:
    """A time that is not ISO 8601 fails with one error naming the field."""
    with pytest.raises(ValidationError) as info:
        _beat("yesterday")
    errors = info.value.errors()
    assert [(e["loc"], e["msg"]) for e in errors] == [
        (("sent_at",), "Input should be an ISO 8601 datetime")
    ]


OLD_AGENT_BEAT = (
    b'{"v":1,"host":"h","session_id":"s","status":"waiting_for_input","seq":4,'
    b'"sent_at":"2026-11-25T10:00:00Z","keepalive":true}'
)
"""A heartbeat as an agent of sessionbeat 0.1.0 sent it: the flag was called ``keepalive``."""


def test_an_old_agents_keepalive_flag_is_read_as_heartbeat() -> None:
    """A 0.1.0 agent's refresh is still a heartbeat, and is written under the new name."""
    beat = SessionBeat.model_validate_json(OLD_AGENT_BEAT)
    assert beat.heartbeat is True
    assert beat.model_extra == {}
    dumped = json.loads(beat.model_dump_json())
    assert (dumped["heartbeat"], "keepalive" in dumped) == (True, False)
    assert SessionBeat.model_validate_json(beat.model_dump_json()).heartbeat is True


def test_an_old_agents_keepalive_interval_is_read_as_heartbeat_interval() -> None:
    """A 0.1.0 agent's birth tells its heartbeat interval under the old name; it is kept."""
    birth = HostStatus.model_validate_json(
        b'{"v":1,"host":"h","state":"online","bdseq":3,"keepalive_interval":15.0}'
    )
    assert birth.heartbeat_interval == 15.0
    assert json.loads(birth.model_dump_json(exclude_none=True))["heartbeat_interval"] == 15.0


def test_a_session_view_from_an_old_aggregator_is_read() -> None:
    """A reader gets heartbeat from a 0.1.0 aggregator's view, which calls it keepalive."""
    beat = SessionBeat.model_validate_json(OLD_AGENT_BEAT)
    now = beat.sent_at
    old_view = {
        **beat.model_dump(mode="json", exclude={"heartbeat", "v"}),
        "keepalive": True,
        "published_status": "waiting_for_input",
        "received_at": now.isoformat(),
        "context_pct": None,
        "host_online": True,
        "age_seconds": None,
        "idle_seconds": 0.0,
        "last_seen_seconds": 0.0,
        "status_since": now.isoformat(),
        "waiting_seconds": None,
    }
    assert SessionView.model_validate(old_view).heartbeat is True


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_outside_the_utc_range_is_a_validation_error(text: str) -> None:
    """A beat whose time has no UTC equivalent is rejected (counted), not an OverflowError."""
    with pytest.raises(ValidationError) as info:
        _beat(text)
    assert [e["loc"] for e in info.value.errors()] == [("sent_at",)]
