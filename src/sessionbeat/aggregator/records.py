"""The records of the aggregator's state: what it holds per session and host, and its results.

Plain dataclasses, no logic beyond derived fields; the rules that change them are in
:mod:`sessionbeat.aggregator.state` (``apply``, ``expire``), which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from sessionbeat.aggregator.clocks import ClockSkew
from sessionbeat.aggregator.index import StateIndex
from sessionbeat.errors import RejectReason
from sessionbeat.exporter.snapshot import Counters
from sessionbeat.models import HostState, HostStatus, SessionBeat, SessionStatus

TIMELINE_LENGTH = 50
"""Status changes kept per session (oldest dropped first)."""

SessionKey = tuple[str, str]
"""``(host, session_id)``: a session is identified by both (ids are only unique per host)."""


@dataclass(frozen=True, slots=True)
class Timings:
    """The aggregator's thresholds in seconds (docs/architecture.md defaults).

    ``stale_delta``, ``idle_delta``, ``reap_delta`` and ``linger_delta`` are the same thresholds
    as ``timedelta`` (derived), so the per-message status check and the due times compare
    timedeltas without converting them.
    """

    stale_after: float = 120.0
    idle_after: float = 300.0
    reap_after: float = 1800.0
    ended_linger: float = 300.0
    host_reap_after: float = 86400.0
    stale_delta: timedelta = field(init=False, repr=False, compare=False)
    idle_delta: timedelta = field(init=False, repr=False, compare=False)
    reap_delta: timedelta = field(init=False, repr=False, compare=False)
    linger_delta: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stale_delta", timedelta(seconds=self.stale_after))
        object.__setattr__(self, "idle_delta", timedelta(seconds=self.idle_after))
        object.__setattr__(self, "reap_delta", timedelta(seconds=self.reap_after))
        object.__setattr__(self, "linger_delta", timedelta(seconds=self.ended_linger))


@dataclass(frozen=True, slots=True)
class Limits:
    """What one host may hold in the aggregator (docs/architecture.md, "Limits").

    ``max_sessions_per_host``: live sessions of one host; a beat of a further session is
    rejected with ``too_many_sessions`` until one of them is reaped or removed.
    """

    max_sessions_per_host: int = 500


@dataclass(slots=True)
class Message:
    """An MQTT message as delivered: topic, raw payload bytes, the retained flag and expiry.

    ``expiry`` is the Message Expiry Interval left when the broker delivered it (seconds; None
    when the message has none or it was not read): it ages a retained replay (see
    :func:`~sessionbeat.aggregator.clocks.retained_age`). Not frozen: it is built once per
    received message and a frozen dataclass costs a third of a microsecond more to build (the
    ingest path's budget is a few microseconds).
    """

    topic: str
    payload: bytes
    retained: bool = False
    expiry: float | None = None


class Change(NamedTuple):
    """One effective-status change in a record's timeline (aggregator clock).

    A plain tuple, not the API's :class:`~sessionbeat.models.StatusChange`: building a pydantic
    model per change cost about a microsecond on the ingest path. ``views`` converts them.
    """

    at: datetime
    status: SessionStatus
    event: str | None


class Timeline(list[Change]):
    """A session's status changes, oldest first, holding the last :data:`TIMELINE_LENGTH`.

    A list whose ``append`` drops the oldest change past the bound, instead of a
    ``deque(maxlen=...)``: a deque costs 760 bytes from its creation (its first block of 64 slots),
    against 88 for this list with up to four (a session has 2-3 changes on average; one per
    live session, bench/bench_memory.py). Dropping the oldest of 50 moves 49 pointers, once
    per status change beyond the 50th.
    """

    __slots__ = ()

    def append(self, change: Change, /) -> None:
        """Add ``change`` as the newest; drop the oldest if that makes more than the bound."""
        super().append(change)
        if len(self) > TIMELINE_LENGTH:
            del self[0]


@dataclass(slots=True)
class SessionRecord:
    """What the aggregator knows of one session.

    ``received_at`` is the aggregator's clock at the last accepted beat; ``last_seen`` is the
    same for live messages, but for a retained replay (cold start) it is set back by the time
    the broker has held the beat (its Message Expiry), so a dead session does not look fresh
    after a restart. ``retained`` is True while the last accepted beat came from a retained
    replay: no proof that the host lives. ``retained_hash`` is ``hash()`` of that retained
    payload (0 otherwise): the same retained beat delivered again (the aggregator subscribes
    twice on a fresh session, so a cold start delivers every retained beat twice) is known
    without parsing it.
    """

    beat: SessionBeat
    received_at: datetime
    last_seen: datetime
    effective: SessionStatus
    status_since: datetime
    timeline: Timeline = field(default_factory=Timeline)
    accepted: Applied | None = None
    retained: bool = False
    retained_hash: int = 0


@dataclass(slots=True)
class HostRecord:
    """What the aggregator knows of one host heard from (a status message or a session beat).

    ``state``, ``bdseq``, ``since``, ``last_seen`` (aggregator clock) and ``status`` come from
    its last accepted status message (None before one). ``sessions`` counts its live sessions
    in the state; ``skew`` estimates its clock against the aggregator's. ``unreachable_since``
    is set (aggregator clock) while the bridge of the host's ``site`` (its status's ``site``) is
    down: the host shows ``unreachable`` (:mod:`sessionbeat.aggregator.sites`). ``heard`` is
    when the last message of any kind from the host arrived (its status or a session beat,
    heartbeats included; a retained replay set back by its Message Expiry): kept as messages
    arrive, so a host's view never walks its sessions.
    """

    host: str
    state: HostState | None = None
    bdseq: int | None = None
    since: datetime | None = None
    last_seen: datetime | None = None
    status: HostStatus | None = None
    sessions: int = 0
    skew: ClockSkew = field(default_factory=ClockSkew)
    unreachable_since: datetime | None = None
    heard: datetime | None = None


@dataclass(slots=True)
class SiteLink:
    """The last bridge notification of one site (``sessionbeat/sites/<site>/bridge``).

    ``up`` is the notification (``1``: the site broker's bridge is connected to ours); ``since``
    when it last changed (aggregator clock); ``live`` is True once a live (not retained)
    notification set it: a retained replay is older than any live one and never overrides it.
    """

    up: bool
    since: datetime
    live: bool


@dataclass(slots=True)
class AggregatorState:
    """All live state: sessions by ``(host, session_id)``, hosts by id, counters, thresholds.

    ``topic_keys`` maps the topic of each live session to its key: a topic is parsed once per
    session (~1 us; a lookup ~0.05 us) and forgotten with it, so this memory follows the live
    sessions, which the limits bound, not every topic a host ever sent (an LRU cache of
    131,072 parsed topics held 43 MB after a flood of refused sessions; bench/README.md).
    ``index`` holds the indices the core keeps beside them (:mod:`~sessionbeat.aggregator.index`):
    sessions by host and id, the ``GET /sessions`` order, counts, the due-time heap, ``version``.
    ``sites`` holds each site's last bridge notification, by site id.
    """

    timings: Timings = field(default_factory=Timings)
    limits: Limits = field(default_factory=Limits)
    sessions: dict[SessionKey, SessionRecord] = field(default_factory=dict)
    topic_keys: dict[str, SessionKey] = field(default_factory=dict)
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    counters: Counters = field(default_factory=Counters)
    last_message_at: datetime | None = None
    index: StateIndex = field(default_factory=StateIndex)
    sites: dict[str, SiteLink] = field(default_factory=dict)


class Outcome(StrEnum):
    """What ``apply`` did with a message."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    OUT_OF_ORDER = "out_of_order"
    STALE_DEATH = "stale_death"
    REMOVED = "removed"
    NOTHING = "nothing"


@dataclass(slots=True)
class Applied:
    """Result of ``apply``: the outcome, the reject reason/detail, and a removed record if any.

    Not frozen, for the same reason as :class:`Message`; treat it as read-only: the result of
    an accepted beat is one object per session, returned again for each of its beats.
    """

    outcome: Outcome
    reason: RejectReason | None = None
    detail: str | None = None
    removed: SessionRecord | None = None
    key: SessionKey | None = None


@dataclass(frozen=True, slots=True)
class Reaped:
    """A session taken out of the live state by ``expire``, with why (``ended`` or ``expired``)."""

    key: SessionKey
    record: SessionRecord
    reason: str
