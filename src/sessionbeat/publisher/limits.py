"""Every size cap of the host agent, in one place: free text, lists, and the encoded beat.

The agent holds (``LocalSession``, its state file), publishes (``SessionBeat``) and spools
(``spool.jsonl``) only bounded values. Text over its cap is cut and ends with a visible
marker, ``…[cut N chars]`` (N characters removed); the cut text, marker included, is at most
the cap, so cutting again changes nothing. Caps count characters (Python ``str`` length) and
leave every real input alone: the longest strings in the recordings
(``src/sessionbeat/stack/recordings``) and the test fixtures are a 181-character transcript
path, a 93-character cwd and a 56-character todo.

An encoded beat must fit :data:`~sessionbeat.models.MAX_PAYLOAD_BYTES` (the aggregator
rejects bigger payloads, ``sessionbeat.wire``) and the broker's MQTT 5 Maximum Packet Size
from its CONNACK; one that does not (many long fields at once, or text that JSON escapes to
six bytes a character) goes out as a minimal beat (:func:`fit_beat`). docs/architecture.md
("Limits") has the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, ValidationError

from sessionbeat.models import MAX_PAYLOAD_BYTES, SessionBeat
from sessionbeat.topics import session_topic

log = logging.getLogger(__name__)

NAME_MAX = 256
"""Characters of a short word or name: event, tool, model, permission mode, registry status,
version, entrypoint, tmux pane, end reason, repository, branch, a todo's id and status."""
TEXT_MAX = 1000
"""Characters of a human text: the session title and name, a todo's content and active form
(so the published ``task``), what the session waits for."""
DETAIL_MAX = 2000
"""Characters of a tool's detail (also cut to the ``detail_max_chars`` setting, at most 2000)."""
PATH_MAX = 4096
"""Characters of a path: ``cwd``, ``transcript_path`` (Linux's PATH_MAX)."""
TODOS_MAX = 100
"""Items of a session's todo list kept (the newest, by position)."""
IDS_MAX = 256
"""Ids kept of running subagents and of open ``Task``/``Agent`` tool calls (the newest)."""

MARKER_END = " chars]"
"""How a cut text ends (the whole marker is ``…[cut N chars]``)."""

PUBLISH_OVERHEAD = 32
"""Bytes of an MQTT 5 PUBLISH besides topic and payload, rounded up (MQTT 5.0 section 3.3:
fixed header 1 + remaining length <= 4, topic length 2, packet id 2, property length 1 and
Message Expiry Interval 5 = 15)."""


def cut(text: str, cap: int) -> str:
    """Return ``text`` if it has at most ``cap`` characters, else its start and the marker.

    The result, ``…[cut N chars]`` included, has at most ``cap`` characters (below the
    marker's own length only the start is kept). ``cut(cut(t, c), c) == cut(t, c)``.
    """
    if len(text) <= cap:
        return text
    widest = f"…[cut {len(text)}{MARKER_END}"
    if cap < len(widest):
        return text[:cap]
    keep = cap - len(widest)
    return f"{text[:keep]}…[cut {len(text) - keep}{MARKER_END}"


def _cutter(cap: int) -> Callable[[str], str]:
    def validate(value: str) -> str:
        return cut(value, cap)

    return validate


_T = TypeVar("_T")


def newest(items: list[_T], cap: int) -> list[_T]:
    """Return ``items`` itself if it has at most ``cap`` entries, else its last ``cap``."""
    return items if len(items) <= cap else items[-cap:]


def _newest(cap: int) -> Callable[[list[_T]], list[_T]]:
    def validate(value: list[_T]) -> list[_T]:
        return newest(value, cap)

    return validate


Name = Annotated[str, AfterValidator(_cutter(NAME_MAX))]
"""A string cut to :data:`NAME_MAX` characters when a model validates it."""
Text = Annotated[str, AfterValidator(_cutter(TEXT_MAX))]
"""A string cut to :data:`TEXT_MAX` characters when a model validates it."""
Detail = Annotated[str, AfterValidator(_cutter(DETAIL_MAX))]
"""A string cut to :data:`DETAIL_MAX` characters when a model validates it."""
PathText = Annotated[str, AfterValidator(_cutter(PATH_MAX))]
"""A path string cut to :data:`PATH_MAX` characters when a model validates it."""
IdList = Annotated[list[Name], AfterValidator(_newest(IDS_MAX))]
"""A list of ids, each cut to :data:`NAME_MAX`, keeping the newest :data:`IDS_MAX`."""


def keep_newest(cap: int) -> AfterValidator:
    """Return a pydantic validator keeping the last ``cap`` items of a list (for todo lists)."""
    return AfterValidator(_newest(cap))


def payload_limit(topic: str, broker_max: int | None) -> int:
    """Return the largest payload in bytes publishable on ``topic``.

    That is :data:`~sessionbeat.models.MAX_PAYLOAD_BYTES`, or less when the broker's Maximum
    Packet Size (``broker_max`` bytes, from its CONNACK; None when it announced none) leaves
    less room after the topic and :data:`PUBLISH_OVERHEAD`.
    """
    if broker_max is None:
        return MAX_PAYLOAD_BYTES
    return min(MAX_PAYLOAD_BYTES, broker_max - len(topic.encode()) - PUBLISH_OVERHEAD)


MINIMAL_FIELDS = (
    "host",
    "session_id",
    "status",
    "seq",
    "bdseq",
    "sent_at",
    "started_at",
    "heartbeat",
)
"""What a minimal beat keeps (with ``v``): the ids, the status and what orders it; it adds
``"truncated": true``."""


def minimal_beat(beat: SessionBeat) -> SessionBeat:
    """Return ``beat`` reduced to its status and ids, marked ``truncated: true``.

    The wire model keeps unknown fields (``extra="allow"``), so ``truncated`` reaches the
    aggregator, and readers of an older version ignore it.
    """
    fields = {name: getattr(beat, name) for name in MINIMAL_FIELDS}
    return SessionBeat.model_validate({**fields, "truncated": True})


def fit_beat(beat: SessionBeat, limit: int) -> tuple[bytes | None, bool]:
    """Return ``(payload, minimal)``: the beat's JSON if it fits ``limit`` bytes.

    Else the JSON of :func:`minimal_beat` and ``minimal`` True; ``(None, True)`` when even that
    is over ``limit`` (a broker announcing a Maximum Packet Size of a few hundred bytes).
    """
    payload = beat.model_dump_json(exclude_none=True).encode()
    if len(payload) <= limit:
        return payload, False
    payload = minimal_beat(beat).model_dump_json(exclude_none=True).encode()
    return (payload if len(payload) <= limit else None), True


class BeatEncoder:
    """Turns beats into payloads that fit: what the agent publishes and spools goes through it.

    ``broker_max`` is the broker's Maximum Packet Size from its last CONNACK (None: it announced
    none). ``minimal`` counts beats sent as a minimal beat, ``dropped`` beats (or spooled
    payloads) that did not fit even so; the first of each kind is logged. Not thread-safe: the
    agent's worker thread owns it (paho's thread only sets ``broker_max``).
    """

    def __init__(self) -> None:
        self.broker_max: int | None = None
        self.minimal = 0
        self.dropped = 0

    def limit(self, topic: str) -> int:
        """Return the payload limit in bytes on ``topic`` (:func:`payload_limit`)."""
        return payload_limit(topic, self.broker_max)

    def encode(self, beat: SessionBeat) -> tuple[str, bytes | None]:
        """Return the beat's topic and payload (minimal if need be; None if nothing fits)."""
        topic = session_topic(beat.host, beat.session_id)
        limit = self.limit(topic)
        payload, minimal = fit_beat(beat, limit)
        if minimal:
            self._count(beat.session_id, limit, payload is not None)
        return topic, payload

    def refit(self, topic: str, payload: bytes) -> bytes | None:
        """Return a spooled ``payload`` if it still fits on ``topic``, else its beat refitted.

        The broker may announce a smaller Maximum Packet Size after a reconnect. None when the
        payload is not a beat, or not even a minimal one fits.
        """
        limit = self.limit(topic)
        if len(payload) <= limit:
            return payload
        try:
            beat = SessionBeat.model_validate_json(payload)
        except ValidationError:
            self._count(topic, limit, False)
            return None
        refitted, _ = fit_beat(beat, limit)
        self._count(beat.session_id, limit, refitted is not None)
        return refitted

    def _count(self, what: str, limit: int, sent: bool) -> None:
        if sent:
            self.minimal += 1
            if self.minimal == 1:
                log.warning(
                    "a beat of %s is over the %d-byte payload limit: sent minimal "
                    "(status and ids, truncated: true); counting more as beats_minimal",
                    what,
                    limit,
                )
        else:
            self.dropped += 1
            if self.dropped == 1:
                log.error(
                    "a beat of %s does not fit %d bytes even minimal: dropped; "
                    "counting more as beats_dropped",
                    what,
                    limit,
                )
