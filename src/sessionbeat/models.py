"""Every wire and API model of sessionbeat (pydantic 2).

The facts of a session are declared once, in :class:`SessionFields`; the wire's
:class:`SessionBeat` and the API's :class:`SessionView` derive from it.

Wire models (MQTT payloads, ``v: 1``): :class:`SessionBeat` and :class:`HostStatus`. They keep
unknown fields on input (forward compatibility). Claude Code's own input formats are read in
:mod:`sessionbeat.claude_code`. API models: :class:`SessionView`, :class:`SessionDetail`,
:class:`HostView`, :class:`Summary`, :class:`HistoryPage`.

All timestamps are timezone-aware UTC ``datetime`` objects and serialize as ISO 8601 with ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    GetPydanticSchema,
)
from pydantic_core import core_schema

MAX_PAYLOAD_BYTES = 64 * 1024
"""A payload over this many bytes is rejected (docs/architecture.md, SessionBeat)."""

MAX_SEQUENCE = 2**63 - 1
"""Largest ``seq`` and ``bdseq`` accepted on the wire: a signed 64-bit integer, what SQLite and
most JSON readers hold exactly (docs/architecture.md, "Limits")."""
MAX_CONTEXT_TOKENS = 10_000_000
"""Largest ``context_tokens`` and ``context_window`` accepted: ten times the largest context
window Claude offers (1M tokens)."""
MAX_SUBAGENTS = 10_000
"""Largest ``subagents`` (running subagents of one session) accepted on the wire."""

SequenceNumber = Annotated[int, Field(ge=0, le=MAX_SEQUENCE)]
"""A wire sequence number (``seq``, ``bdseq``): 0 to :data:`MAX_SEQUENCE`."""
ContextTokens = Annotated[int, Field(ge=0, le=MAX_CONTEXT_TOKENS)]
"""A token count of the context window: 0 to :data:`MAX_CONTEXT_TOKENS`."""

WIRE_VERSION: Literal[1] = 1


class PublishedStatus(StrEnum):
    """A status a host publishes (docs/architecture.md "Status model").

    ``unknown`` is published when Claude Code's own session registry reports a status word we do
    not know (the reference says: never guess); see docs/architecture.md.
    """

    WORKING = "working"
    NEEDS_APPROVAL = "needs_approval"
    WAITING_FOR_INPUT = "waiting_for_input"
    ENDED = "ended"
    UNKNOWN = "unknown"


class SessionStatus(StrEnum):
    """The effective status the aggregator reports: published ones plus derived ones.

    ``idle``, ``stale``, ``offline`` and ``unreachable`` (the host's site broker lost its bridge
    to the central broker: we cannot see the host) are derived by the aggregator and never
    published.
    """

    WORKING = "working"
    NEEDS_APPROVAL = "needs_approval"
    WAITING_FOR_INPUT = "waiting_for_input"
    ENDED = "ended"
    UNKNOWN = "unknown"
    IDLE = "idle"
    STALE = "stale"
    OFFLINE = "offline"
    UNREACHABLE = "unreachable"


STATUS_ORDER: tuple[SessionStatus, ...] = (
    SessionStatus.NEEDS_APPROVAL,
    SessionStatus.WORKING,
    SessionStatus.WAITING_FOR_INPUT,
    SessionStatus.UNKNOWN,
    SessionStatus.IDLE,
    SessionStatus.STALE,
    SessionStatus.UNREACHABLE,
    SessionStatus.OFFLINE,
    SessionStatus.ENDED,
)
"""Every status in the order lists show them, what needs the user first (``GET /sessions``, the
page's sections, the aggregator's ordered index)."""

LIVE_STATUSES: frozenset[SessionStatus] = frozenset(
    {
        SessionStatus.WORKING,
        SessionStatus.NEEDS_APPROVAL,
        SessionStatus.WAITING_FOR_INPUT,
        SessionStatus.IDLE,
        SessionStatus.UNKNOWN,
    }
)
"""Statuses of a session whose process is believed to run and may still edit: not ended,
stale or offline (the exporter's live counts, "2 on this branch", the MCP server's tools)."""


class StatusSource(StrEnum):
    """Where a published status came from: a hook event or Claude Code's session registry."""

    HOOK = "hook"
    REGISTRY = "registry"


class HostState(StrEnum):
    """A host's state: ``online``/``offline`` as its agent published on its status topic.

    ``unreachable`` is derived by the aggregator, never published: the host's ``site`` broker
    lost its bridge to the central broker (docs/architecture.md, "Sites and bridges"), so we
    cannot see the host; its last published state holds again when the bridge is back.
    """

    ONLINE = "online"
    OFFLINE = "offline"
    UNREACHABLE = "unreachable"


def _as_utc(value: datetime) -> datetime:
    """Treat naive datetimes as UTC and convert aware ones to UTC.

    Raises ``ValueError`` (a validation error) when the UTC time falls outside years 1-9999,
    e.g. ``0001-01-01T00:00:00+14:00``, instead of Python's ``OverflowError``.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside years 1-9999 once converted to UTC") from None


def _utc_datetime_schema(_source: Any, _handler: Any) -> core_schema.CoreSchema:
    """Return a union tried left to right: UTC in pydantic-core alone, else any ISO 8601 time."""
    return core_schema.union_schema(
        [
            core_schema.datetime_schema(tz_constraint=0),
            core_schema.no_info_after_validator_function(_as_utc, core_schema.datetime_schema()),
        ],
        mode="left_to_right",
        custom_error_type="iso_datetime",
        custom_error_message="Input should be an ISO 8601 datetime",
    )


UtcDatetime = Annotated[datetime, GetPydanticSchema(_utc_datetime_schema)]
"""An aware UTC datetime. A UTC time (``Z`` or ``+00:00``, what sessionbeat writes) is checked
in pydantic-core alone, the cheap path the aggregator takes for every beat; any other ISO 8601
time is accepted too, naive meaning UTC, and converted to UTC."""
IdStr = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


HEADLESS_ENTRYPOINT_PREFIX = "sdk"
"""Claude Code's registry ``entrypoint`` of runs without a terminal (``sdk-cli`` for ``-p``)."""


def is_headless(entrypoint: str | None) -> bool:
    """Return True for an ``entrypoint`` of a run without a terminal (``sdk-cli``, ``sdk-ts``)."""
    return entrypoint is not None and entrypoint.startswith(HEADLESS_ENTRYPOINT_PREFIX)


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime (the default clock)."""
    return datetime.now(UTC)


class SessionFields(BaseModel):
    """The facts of one Claude Code session, declared once for the wire, the API and the history.

    :class:`SessionBeat` (what a host publishes) and :class:`SessionView` (what the API returns)
    derive from it. The publisher's ``to_beat`` reads these fields from its ``LocalSession`` by
    name (:func:`session_fields`); the aggregator's ``session_view`` and ``history_entry`` copy
    them from the beat by name. So a field added here flows from the host's session to the
    wire, the API and, if :class:`HistoryEntry` declares it too, the history; the publisher's
    ``LocalSession`` must hold it (a field or a property) under the same name.

    ``host`` and ``session_id`` match ``[A-Za-z0-9_.-]{1,64}``; times are aware UTC; token
    counts are tokens; ``pid`` is the Claude Code process id on the host. Why the status is
    what it is: ``status_source`` names the observation that decided it (a hook event or
    Claude Code's registry) and ``status_at`` the time that observation describes;
    ``registry_status``/``registry_status_at`` are the registry's last word and its
    ``statusUpdatedAt``, ``event``/``last_activity_at`` the last hook event and its time.
    ``waiting_for`` is the registry's ``waitingFor`` while the session waits (e.g.
    ``"permission prompt"``). From the registry too: ``claude_version``, ``entrypoint``
    (``cli``; ``sdk-cli`` for a headless ``claude -p`` run) and ``tmux``, the pane the session
    runs in (``session:@window.%pane``). ``tool`` is the tool in use or awaiting approval,
    ``detail`` its truncated command (opt-in), ``task`` the in-progress todo or the session's
    title. Formats: docs/architecture.md ("SessionBeat").
    """

    host: IdStr
    session_id: IdStr
    started_at: UtcDatetime | None = None
    last_activity_at: UtcDatetime | None = None
    event: str | None = None
    end_reason: str | None = None
    cwd: str | None = None
    repo: str | None = None
    branch: str | None = None
    transcript_path: str | None = None
    tool: str | None = None
    task: str | None = None
    model: str | None = None
    context_tokens: ContextTokens | None = None
    context_window: ContextTokens | None = None
    subagents: Annotated[int, Field(ge=0, le=MAX_SUBAGENTS)] = 0
    permission_mode: str | None = None
    pid: int | None = None
    status_source: StatusSource = StatusSource.HOOK
    status_at: UtcDatetime | None = None
    registry_status: str | None = None
    registry_status_at: UtcDatetime | None = None
    waiting_for: str | None = None
    claude_version: str | None = None
    entrypoint: str | None = None
    tmux: str | None = None
    detail: str | None = None


SESSION_FIELDS: tuple[str, ...] = tuple(SessionFields.model_fields)
"""The names of :class:`SessionFields`, in declaration order."""


def session_fields(source: object, names: tuple[str, ...] = SESSION_FIELDS) -> dict[str, Any]:
    """Return ``{name: getattr(source, name)}`` for ``names`` (default: every session field).

    ``source`` is any object with those attributes (a model, a property counts): a beat, or the
    publisher's ``LocalSession``. Raises ``AttributeError`` if it lacks one. The values are not
    copied or validated; pass the dict to a model's constructor to validate them.
    """
    return dict(zip(names, attrgetter(*names)(source), strict=True))


HEARTBEAT_NAMES = AliasChoices("heartbeat", "keepalive")
"""Names the heartbeat flag is read from: ``keepalive`` is its name in sessionbeat 0.1.0."""


class SessionBeat(SessionFields):
    """The full current snapshot of one Claude Code session, as published by its host.

    Topic ``sessionbeat/v1/<host>/sessions/<session_id>``, retained, QoS 1, with a Message Expiry
    Interval of ``reap_after`` seconds. The session's facts are those of :class:`SessionFields`;
    the beat adds ``v`` (wire version), the published ``status``, ``bdseq`` and ``seq`` (which
    order the beats of a session: ``bdseq`` is the agent's birth epoch when it built the beat,
    the ``bdseq`` of its :class:`HostStatus`, None from agents of 0.1.0; ``seq`` counts the
    session's beats and survives agent restarts), ``sent_at`` (the host's clock, shown, and the
    order of beats without ``bdseq``) and ``heartbeat``: True when the agent re-published a quiet
    session (every ``heartbeat_interval`` seconds, or after a reconnect), not an activity.
    ``heartbeat`` is also read from ``keepalive``, its name in sessionbeat 0.1.0; it is written
    as ``heartbeat``. Unknown fields are kept (``extra="allow"``).
    """

    model_config = ConfigDict(extra="allow")

    v: Literal[1] = WIRE_VERSION
    status: PublishedStatus
    seq: SequenceNumber
    sent_at: UtcDatetime
    heartbeat: bool = Field(False, validation_alias=HEARTBEAT_NAMES)
    bdseq: SequenceNumber | None = None

    def __copy__(self) -> Self:
        """Return a shallow copy with a set of its own of the explicitly set fields.

        A beat read by :func:`sessionbeat.wire.parse_session_beat` shares that set with other
        beats (a ``frozenset``); the copy gets a ``set`` again, so ``model_copy(update=...)``
        can record the updated names.
        """
        copied = super().__copy__()
        object.__setattr__(copied, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        """Return a deep copy with a set of its own of the explicitly set fields (as above)."""
        copied = super().__deepcopy__(memo)
        object.__setattr__(copied, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        return copied


class HostStatus(BaseModel):
    """A host agent's birth or death on ``sessionbeat/v1/<host>/status`` (retained, QoS 1).

    ``bdseq`` (as in Sparkplug B) increments on every agent CONNECT; the birth and the Last Will
    registered for that connection carry the same value. ``heartbeat_interval`` is the
    agent's ``heartbeat_interval`` setting (seconds between the re-publications of a quiet
    session); it is also read from ``keepalive_interval``, its name in sessionbeat 0.1.0.
    ``site`` is the agent's ``site`` setting: the site broker it connects to, whose bridge
    notification (``sessionbeat/sites/<site>/bridge``) tells whether the host can be seen;
    None (agents before it, or no site) means the host is connected to the central broker.
    ``state`` is ``online`` or ``offline`` on the wire (``unreachable`` is rejected there).
    """

    model_config = ConfigDict(extra="allow")

    v: Literal[1] = WIRE_VERSION
    host: IdStr
    state: Literal[HostState.ONLINE, HostState.OFFLINE]
    bdseq: SequenceNumber
    sent_at: UtcDatetime | None = None
    agent_version: str | None = None
    pid: int | None = None
    platform: str | None = None
    heartbeat_interval: float | None = Field(
        None, validation_alias=AliasChoices("heartbeat_interval", "keepalive_interval")
    )
    site: IdStr | None = None


class LeaseClaim(BaseModel):
    """An aggregator's claim of the reaper lease on ``sessionbeat/aggregators/<group>/lease``.

    Published retained (QoS 1) by the claimant on its lease connection, whose Last Will is a
    zero-length retained message on the same topic (docs/architecture.md, "More than one
    aggregator"). ``holder`` is the MQTT client id of that connection (unique per claim: it
    tells one claim from the next); ``host`` and ``pid`` name the aggregator process; ``since``
    is when it claimed; ``version`` is its sessionbeat version. Lenient: unknown fields are
    kept, everything but ``holder`` may be missing.
    """

    model_config = ConfigDict(extra="allow")

    holder: str = Field(min_length=1, max_length=256)
    host: str | None = None
    pid: int | None = None
    since: UtcDatetime | None = None
    version: str | None = None

    def label(self) -> str:
        """Return the claim in words for logs and ``/healthz``: ``host (pid N, client id)``."""
        where = self.host or "?"
        pid = f"pid {self.pid}, " if self.pid is not None else ""
        return f"{where} ({pid}{self.holder})"


class StatusChange(BaseModel):
    """One status transition the aggregator saw: effective status and when (aggregator clock)."""

    at: UtcDatetime
    status: SessionStatus
    event: str | None = None


class SessionView(SessionFields):
    """One session as the aggregator's API returns it (``GET /sessions``).

    The session's facts (:class:`SessionFields`) as its last beat said, plus: ``status``, the
    effective status (published, or derived ``idle``/``stale``/``offline``);
    ``published_status``, what the host last said; the beat's ``seq``, ``sent_at`` (host
    clock) and ``heartbeat``; ``received_at`` (aggregator clock). Durations are seconds at the
    time of the request; ``context_pct`` is ``100 * context_tokens / context_window`` (0-100,
    or None). ``headless`` is True for a run without a terminal (Claude Code's ``entrypoint``
    ``sdk-*``, e.g. ``claude -p``). ``heartbeat`` is also read from ``keepalive`` (an
    aggregator of sessionbeat 0.1.0).
    """

    status: SessionStatus
    published_status: PublishedStatus
    seq: int
    sent_at: datetime
    received_at: datetime
    context_pct: float | None
    heartbeat: bool = Field(validation_alias=HEARTBEAT_NAMES)
    host_online: bool | None
    age_seconds: float | None
    idle_seconds: float | None
    last_seen_seconds: float
    status_since: datetime
    waiting_seconds: float | None
    headless: bool = False


class SessionDetail(SessionView):
    """A session with its status timeline (``GET /sessions/{id}``)."""

    timeline: list[StatusChange] = Field(default_factory=list)


class HostView(BaseModel):
    """One host as the API returns it (``GET /hosts``); ``state`` is None if never heard of.

    ``since`` is when the host's state (online/offline) last changed; ``last_seen`` when the
    aggregator last heard anything from it (its status or any session beat, heartbeats too).
    ``clock_skew_seconds`` is the host's clock minus the aggregator's, estimated from the
    ``sent_at`` of its live messages (positive: the host is ahead; None until one arrived).
    ``site`` is the site broker the host connects through (its status's ``site``); ``state``
    is ``unreachable`` while that site's bridge is down, ``since`` then when it went down.
    """

    host: str
    state: HostState | None
    since: datetime | None
    bdseq: int | None
    last_seen: datetime | None
    sessions: int
    needs_approval: int
    agent_version: str | None = None
    platform: str | None = None
    clock_skew_seconds: float | None = None
    site: str | None = None


class Summary(BaseModel):
    """Totals for the phone's first line (``GET /summary``).

    ``top_context_pct`` holds the two highest context percentages among live sessions, highest
    first. ``title`` is the one-line form a person reads without a legend, e.g.
    ``"12 sessions · 1 needs you · ctx 32%/23% · 1 subagent"``; ``short_title`` the compact
    form for a menu bar, e.g. ``"12 sess · ⚠1 · 32%/23% · 1 sub"``.
    """

    total: int
    active: int
    stale: int
    needs_approval: int
    subagents: int
    by_status: dict[str, int]
    by_host: dict[str, int]
    hosts_online: int
    hosts_offline: int
    hosts_unreachable: int = 0
    top_context_pct: list[float]
    title: str
    short_title: str = ""
    broker_connected: bool


class HistoryEntry(BaseModel):
    """A reaped session as kept in the SQLite history (``GET /history``)."""

    session_id: str
    host: str
    repo: str | None
    branch: str | None
    cwd: str | None
    model: str | None
    task: str | None
    status: SessionStatus
    end_reason: str | None
    reap_reason: str
    started_at: datetime | None
    last_activity_at: datetime | None
    reaped_at: datetime
    context_tokens: int | None
    context_window: int | None
    transcript_path: str | None
    timeline: list[StatusChange] = Field(default_factory=list)


class HistoryPage(BaseModel):
    """One page of history, newest first; ``next_offset`` is None on the last page."""

    items: list[HistoryEntry]
    total: int
    offset: int
    limit: int
    next_offset: int | None


class Health(BaseModel):
    """The aggregator's health (``GET /healthz``, always 200; ``GET /readyz``, 503 unless ready).

    ``status`` is ``ok`` when ``reasons`` is empty, else ``degraded``; ``reasons`` says what is
    wrong in words (broker not connected, history not writable, a corrupt history moved aside).
    ``ready`` is True while the broker is connected and the history can be written (what
    ``/readyz`` answers 200 for). ``now`` is the aggregator's clock (``sessionbeat doctor``
    measures clock skew against it); ``last_message_at`` is when the last MQTT message arrived
    (None before the first); ``history_ok`` is False while the SQLite history cannot be written
    or reaped sessions wait in memory for it. ``lease_held`` is True while this aggregator holds
    the reaper lease (it alone reaps into the history, clears retained topics and pushes
    notifications) and ``lease`` says it in words (``holds the reaper lease``, ``standby, lease
    held by <host> (...)``, ``standby, no lease holder yet``); both None where no lease is
    kept. No counts: the routes are open to anyone who can connect, the counts are behind the
    token (``GET /summary``).
    """

    status: Literal["ok", "degraded"]
    ready: bool = True
    reasons: list[str] = Field(default_factory=list)
    broker_connected: bool
    now: datetime
    last_message_at: datetime | None
    history_ok: bool
    version: str
    lease_held: bool | None = None
    lease: str | None = None


class ErrorDetail(BaseModel):
    """The body of an API error (401, 404, 503): ``{"detail": "<what went wrong>"}``."""

    detail: str


class SessionRemoved(BaseModel):
    """A session left the live state (``GET /events``, event ``removed``).

    ``reason`` is ``ended`` or ``expired`` (reaped by the aggregator) or ``cleared`` (its
    retained topic was cleared by someone else).
    """

    host: str
    session_id: str
    reason: str


class Overview(BaseModel):
    """What a person needs first, in one response whose size does not grow with the fleet.

    ``GET /overview`` (docs/api.md). ``attention``: every live session that needs a person now
    (``needs_approval``), in ``GET /sessions`` order; ``sessions``: the first
    page of the others in ``GET /sessions?all=true`` order (stale and ended too), continued
    with ``GET /sessions?all=true&cursor=<next_cursor>`` (None: nothing more); ``hosts``: only
    the hosts that need a look (not online, or with a session awaiting approval), with
    ``hosts_total`` and ``hosts_by_state`` (state value, or ``unknown`` before a status
    message -> number of hosts) counting them all. Everything is from one instant (``now``,
    aggregator clock); ``version`` is the state's change counter when it was built.
    """

    now: datetime
    summary: Summary
    attention: list[SessionView] = Field(default_factory=list)
    sessions: list[SessionView]
    next_cursor: str | None = None
    hosts: list[HostView]
    hosts_total: int = 0
    hosts_by_state: dict[str, int] = Field(default_factory=dict)
    version: int = 0


class ExportFormat(StrEnum):
    """A format of the session exports (API parameter, CLI option, dashboard download).

    The ``format`` query parameter of ``GET /sessions/{id}/export`` and ``GET /history/export``
    and the choices of ``sessionbeat sessions export --format``. ``json`` is the API's JSON
    document (a :class:`SessionDetail`, a :class:`HistoryEntry` or a list of them); ``md`` a
    readable Markdown report of the same facts.
    """

    JSON = "json"
    MD = "md"

    @property
    def media_type(self) -> str:
        """Return the Content-Type of a download in this format (with its charset for text)."""
        return "application/json" if self is ExportFormat.JSON else "text/markdown; charset=utf-8"


class NotifyKind(StrEnum):
    """What a notification is about (the ``kind`` label of ``sessionbeat_notifications_total``).

    ``needs_approval`` is on by default; ``turn_finished`` (a turn ended after long work),
    ``host_offline`` (a host's Last Will) and ``stuck`` (working, no sign of life) each have
    their own switch; ``test`` is ``sessionbeat notify test``.
    """

    NEEDS_APPROVAL = "needs_approval"
    TURN_FINISHED = "turn_finished"
    HOST_OFFLINE = "host_offline"
    STUCK = "stuck"
    TEST = "test"


class NotifyTarget(BaseModel):
    """One notification service: its redacted URL and how its last delivery went.

    ``url`` hides passwords and tokens (Apprise's privacy form); ``withdraw`` is True where a
    sent message can be deleted when the approval is answered (ntfy).
    """

    service: str
    url: str
    withdraw: bool = False
    last_result: str | None = None
    last_at: datetime | None = None
    last_error: str | None = None


class NotifyStatus(BaseModel):
    """The aggregator's notifier (``GET /notify``): on or off, its services, what it did.

    ``enabled`` is False when no URL is set. ``invalid`` lists the URLs that did not parse, by
    reason, with secrets hidden. ``counts`` maps kind -> result -> number (results: ``sent``,
    ``failed``, ``retried``, ``withdrawn``, ``withdraw_failed``, ``followup``, ``filtered``,
    ``cancelled``); ``latency_*`` is the histogram of seconds from the status change to the
    delivery: ``latency_buckets`` holds cumulative ``[upper bound, count]`` pairs. ``pending``
    counts episodes waiting out the grace period, quiet hours or the per-session rate limit.
    """

    enabled: bool
    kinds: list[NotifyKind] = Field(default_factory=list)
    grace_seconds: float = 0.0
    quiet_now: bool = False
    targets: list[NotifyTarget] = Field(default_factory=list)
    invalid: list[str] = Field(default_factory=list)
    pending: int = 0
    last_sent_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    latency_buckets: list[tuple[float, int]] = Field(default_factory=list)
    latency_sum: float = 0.0
    latency_count: int = 0
