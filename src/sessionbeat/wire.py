"""Reading the wire: a raw MQTT payload checked and validated against its topic.

The aggregator and ``sessionbeat tail`` both read every payload through these functions, so a
message one of them rejects the other rejects for the same reason (a ``RejectReason``).
Payloads are the wire models of :mod:`sessionbeat.models` (docs/architecture.md, "Wire format").
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from sessionbeat.errors import PayloadError, RejectReason
from sessionbeat.models import MAX_PAYLOAD_BYTES, HostStatus, SessionBeat

_Wire = TypeVar("_Wire", SessionBeat, HostStatus)


def _validate(model: type[_Wire], payload: bytes, host: str) -> _Wire:
    """Size-check and validate a wire payload, then check its host against the topic's."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(RejectReason.TOO_LARGE, f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        parsed = model.model_validate_json(payload)
    except ValidationError as exc:
        reason = (
            RejectReason.BAD_JSON
            if any(e["type"] == "json_invalid" for e in exc.errors())
            else RejectReason.SCHEMA
        )
        raise PayloadError(reason, _short_errors(exc)) from None
    if parsed.host != host:
        raise PayloadError(RejectReason.HOST_MISMATCH, f"payload host {parsed.host!r} != {host!r}")
    return parsed


def parse_session_beat(payload: bytes, host: str, session_id: str) -> SessionBeat:
    """Validate a session payload against its topic.

    Takes the raw payload and the topic's host and session id; returns the ``SessionBeat``.
    Raises ``PayloadError`` with reason ``too_large`` (> 64 KiB), ``bad_json``, ``schema``,
    ``host_mismatch`` or ``session_mismatch``.

    The beat is held by the aggregator for as long as its session lives, so it is made to share
    what it can (docs/architecture.md, "Memory per session"): its ``host`` and ``session_id``
    are the very strings passed in (equal, checked), and a beat without unknown fields shares
    its set of explicitly set fields (``model_fields_set``, a ``frozenset``) with the other
    beats of the same shape. Treat it as read-only: assigning a field raises
    ``AttributeError``; ``model_copy(update=...)`` gives a changeable copy.
    """
    beat = _validate(SessionBeat, payload, host)
    if beat.session_id != session_id:
        raise PayloadError(
            RejectReason.SESSION_MISMATCH, f"payload session {beat.session_id!r} != {session_id!r}"
        )
    fields = beat.__dict__
    fields["host"] = host
    fields["session_id"] = session_id
    if not beat.__pydantic_extra__:
        fields_set = beat.__pydantic_fields_set__
        for shared in _SHAPES.get(len(fields_set), ()):
            if shared == fields_set:
                _set_attribute(beat, "__pydantic_fields_set__", shared)
                break
        else:
            _share_fields_set(beat)
    return beat


_SHAPES: dict[int, list[frozenset[str]]] = {}
"""The shared fields sets by their number of fields; emptied past :data:`_MAX_SHAPES` in all (a
hostile publisher could send many of the 2**28 shapes the optional fields allow)."""
_MAX_SHAPES = 1024
_shape_count = 0
_set_attribute = object.__setattr__


def _share_fields_set(beat: SessionBeat) -> None:
    """Replace a beat's own set of explicitly set fields by an equal shared ``frozenset``.

    pydantic keeps a ``set`` of the field names found in the input on every instance: 2,264
    bytes for a beat's ~28 names, 40 % of a live session's memory (bench/bench_memory.py),
    with no option to turn it off (pydantic 2.14). Beats of one fleet come in a handful of
    shapes, so one set per shape serves them all: :func:`parse_session_beat` compares the beat's
    set with the known shapes of its length (~0.15 us each) and calls this for a new shape,
    which it keeps (at most :data:`_MAX_SHAPES` in all; beats with unknown fields are left as
    they are).
    """
    global _shape_count
    if _shape_count >= _MAX_SHAPES:
        _SHAPES.clear()
        _shape_count = 0
    fields_set = beat.__pydantic_fields_set__
    shared = frozenset(fields_set)
    _SHAPES.setdefault(len(fields_set), []).append(shared)
    _shape_count += 1
    _set_attribute(beat, "__pydantic_fields_set__", shared)


def parse_host_status(payload: bytes, host: str) -> HostStatus:
    """Validate a status payload against its topic's host; raises ``PayloadError`` like above."""
    return _validate(HostStatus, payload, host)


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:3]]
    return "; ".join(parts)
