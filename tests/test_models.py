"""The wire models: what a publisher may send and what the aggregator keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from sessionbeat.models import SessionBeat


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


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_outside_the_utc_range_is_a_validation_error(text: str) -> None:
    """A beat whose time has no UTC equivalent is rejected (counted), not an OverflowError."""
    with pytest.raises(ValidationError) as info:
        _beat(text)
    assert [e["loc"] for e in info.value.errors()] == [("sent_at",)]
