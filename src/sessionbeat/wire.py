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
    """
    beat = _validate(SessionBeat, payload, host)
    if beat.session_id != session_id:
        raise PayloadError(
            RejectReason.SESSION_MISMATCH, f"payload session {beat.session_id!r} != {session_id!r}"
        )
    return beat


def parse_host_status(payload: bytes, host: str) -> HostStatus:
    """Validate a status payload against its topic's host; raises ``PayloadError`` like above."""
    return _validate(HostStatus, payload, host)


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:3]]
    return "; ".join(parts)
