"""A :class:`~sessionbeat.publisher.session.LocalSession` as the wire :class:`SessionBeat`.

:func:`to_beat` reads every field of :class:`~sessionbeat.models.SessionFields` from the session
by name and decides the status once per beat (:meth:`LocalSession.verdict`). No I/O, no clock.
"""

from __future__ import annotations

from datetime import datetime

from sessionbeat.models import SESSION_FIELDS, PublishedStatus, SessionBeat, session_fields
from sessionbeat.publisher.session import LocalSession

TOOL_STATUSES = frozenset(
    {PublishedStatus.WORKING, PublishedStatus.NEEDS_APPROVAL, PublishedStatus.UNKNOWN}
)
"""Statuses in which a session can have a tool in use or awaiting approval."""


_DECIDED_PER_BEAT = frozenset({"status_source", "status_at", "waiting_for", "tool", "detail"})
"""Session fields :func:`to_beat` takes from the verdict (decided once per beat), not as is."""

_AS_IS = tuple(name for name in SESSION_FIELDS if name not in _DECIDED_PER_BEAT)
"""Session fields a :class:`LocalSession` publishes as it holds them (properties included)."""


def to_beat(session: LocalSession, sent_at: datetime, *, heartbeat: bool = False) -> SessionBeat:
    """Return the wire beat for ``session`` with its current ``seq``, sent at ``sent_at``.

    Every field of :class:`~sessionbeat.models.SessionFields` is read from the session by name
    (a field or a property of :class:`LocalSession`); the status, its source and time and
    ``waiting_for`` come from one :meth:`LocalSession.verdict`. A tool (and its detail) is
    published only in a status that can have one: a tool never outlives the turn it belonged
    to. ``heartbeat`` marks a re-publication of an unchanged session. Raises pydantic's
    ``ValidationError`` if a value breaks the wire model (e.g. a negative token count).
    """
    verdict = session.verdict()
    status = verdict.status
    has_tool = status in TOOL_STATUSES
    # One dict and model_validate (timeit, one beat): 9.2 us, against 8.9 us for the keyword
    # constructor with every field written out; reading the fields by name costs ~1 us, which
    # model_validate (no keyword packing) wins back.
    fields = session_fields(session, _AS_IS)
    fields.update(
        status=status,
        seq=session.seq,
        sent_at=sent_at,
        status_source=verdict.source,
        status_at=verdict.at,
        waiting_for=session.waiting_for_in(status),
        tool=session.tool if has_tool else None,
        detail=session.detail if has_tool else None,
        heartbeat=heartbeat,
    )
    return SessionBeat.model_validate(fields)
