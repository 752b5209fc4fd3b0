"""Pure read models over the aggregator state: session views, host views, the summary.

Functions here take an :class:`AggregatorState` (or records of it) and a ``now`` and return API
models; they do not change the state. The service calls them under its lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sessionbeat.aggregator import sites
from sessionbeat.aggregator.state import (
    AggregatorState,
    HostRecord,
    SessionRecord,
    effective_status,
    idle_seconds,
)
from sessionbeat.models import (
    HistoryEntry,
    HostState,
    HostView,
    SessionDetail,
    SessionStatus,
    SessionView,
    StatusChange,
    Summary,
    is_headless,
)

HIDDEN_BY_DEFAULT = frozenset({SessionStatus.STALE, SessionStatus.ENDED})
"""Statuses ``GET /sessions`` leaves out unless ``all=true``."""

ACTIVE = frozenset({SessionStatus.WORKING, SessionStatus.NEEDS_APPROVAL})
"""Statuses counted as ``active`` in the summary."""

STATUS_ORDER = (
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
"""Order in which lists are sorted: what needs the user first."""

_RANK = {status: i for i, status in enumerate(STATUS_ORDER)}


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Filters of ``GET /sessions``: exact host/repo/status matches; ``all`` adds hidden ones."""

    host: str | None = None
    repo: str | None = None
    status: SessionStatus | None = None
    all: bool = False


def context_pct(tokens: int | None, window: int | None) -> float | None:
    """Return ``100 * tokens / window`` rounded to 0.1, or None when either is unknown/zero."""
    if tokens is None or not window:
        return None
    return round(100.0 * tokens / window, 1)


def session_view(
    record: SessionRecord, host: HostRecord | None, now: datetime, state: AggregatorState
) -> SessionView:
    """Build the API view of one session at ``now`` (durations in seconds).

    Every field the view shares with the beat (those of
    :class:`~sessionbeat.models.SessionFields`, ``seq``, ``sent_at``, ``heartbeat``) is the
    beat's, copied by name; the rest is what the aggregator derives: effective status, host
    state, durations.
    """
    beat = record.beat
    status = effective_status(record, host, now, state.timings)
    status_since = record.status_since if status == record.effective else now
    host_online = None if host is None or host.state is None else host.state is HostState.ONLINE
    last_seen = max(0.0, (now - record.last_seen).total_seconds())
    # The beat's declared fields by name (pydantic keeps them in __dict__; unknown wire fields
    # are elsewhere); the view ignores those it does not declare (``v``). One dict and
    # model_validate (timeit, one view): 6.7-7.0 us, against 7.8-8.3 us for the keyword
    # constructor with every field written out and 9.2 us reading the fields with getattr.
    fields = beat.__dict__.copy()
    fields.update(
        status=status,
        published_status=beat.status,
        received_at=record.received_at,
        context_pct=context_pct(beat.context_tokens, beat.context_window),
        headless=is_headless(beat.entrypoint),
        host_online=host_online,
        age_seconds=(
            None
            if beat.started_at is None
            else max(0.0, (beat.sent_at - beat.started_at).total_seconds()) + last_seen
        ),
        idle_seconds=idle_seconds(record, now),
        last_seen_seconds=last_seen,
        status_since=status_since,
        waiting_seconds=(
            max(0.0, (now - status_since).total_seconds())
            if status is SessionStatus.NEEDS_APPROVAL
            else None
        ),
    )
    return SessionView.model_validate(fields)


def session_detail(
    record: SessionRecord, host: HostRecord | None, now: datetime, state: AggregatorState
) -> SessionDetail:
    """Build the API detail of one session: its view plus its status timeline."""
    view = session_view(record, host, now, state)
    # The view's fields by name: 11 us per detail against 15 us through model_dump + keywords.
    return SessionDetail.model_validate({**view.__dict__, "timeline": timeline(record)})


def timeline(record: SessionRecord) -> list[StatusChange]:
    """Return a record's status timeline as API models, oldest first."""
    return [StatusChange(at=c.at, status=c.status, event=c.event) for c in record.timeline]


def history_entry(
    record: SessionRecord,
    host: HostRecord | None,
    now: datetime,
    state: AggregatorState,
    reap_reason: str,
) -> HistoryEntry:
    """Build the history row of a session leaving the live state at ``now``.

    ``reap_reason`` is ``ended`` or ``expired`` (``aggregator.state.expire``) or ``cleared``
    (its retained topic was emptied by someone else). ``status`` is its last effective status.
    The other fields :class:`~sessionbeat.models.HistoryEntry` declares are the beat's, copied
    by name (the ones it does not declare are ignored).
    """
    fields = record.beat.__dict__.copy()
    fields.update(
        status=effective_status(record, host, now, state.timings),
        reap_reason=reap_reason,
        reaped_at=now,
        timeline=timeline(record),
    )
    return HistoryEntry.model_validate(fields)


def _sort_key(view: SessionView) -> tuple[int, float, str, str]:
    return (_RANK[view.status], -view.sent_at.timestamp(), view.host, view.session_id)


def list_sessions(
    state: AggregatorState, now: datetime, flt: SessionFilter | None = None
) -> list[SessionView]:
    """Return the sessions matching ``flt``, needs-approval first, then newest first."""
    flt = flt or SessionFilter()
    out: list[SessionView] = []
    for (host, _sid), record in state.sessions.items():
        if flt.host is not None and host != flt.host:
            continue
        if flt.repo is not None and record.beat.repo != flt.repo:
            continue
        view = session_view(record, state.hosts.get(host), now, state)
        if flt.status is not None:
            if view.status != flt.status:
                continue
        elif not flt.all and view.status in HIDDEN_BY_DEFAULT:
            continue
        out.append(view)
    out.sort(key=_sort_key)
    return out


def find_session(
    state: AggregatorState, session_id: str, host: str | None = None
) -> SessionRecord | None:
    """Return the record of ``session_id`` (on ``host`` if given; else the newest match).

    The newest is the one whose last beat the aggregator received last (its own clock: the
    hosts' clocks do not compare).
    """
    if host is not None:
        return state.sessions.get((host, session_id))
    matches = [r for (h, sid), r in state.sessions.items() if sid == session_id]
    return max(matches, key=lambda r: r.received_at, default=None)


def list_hosts(state: AggregatorState, now: datetime) -> list[HostView]:
    """Return every known host (from status messages or sessions), sorted by id.

    ``last_seen`` is the last message of any kind from the host: its status or any of its
    session beats, heartbeats included (for a retained replay, when the broker got it, from its
    Message Expiry). ``clock_skew_seconds`` is rounded to milliseconds.
    """
    counts: Counter[str] = Counter()
    approvals: Counter[str] = Counter()
    heard: dict[str, datetime] = {}
    for (host, _sid), record in state.sessions.items():
        if host not in heard or record.last_seen > heard[host]:
            heard[host] = record.last_seen
        status = effective_status(record, state.hosts.get(host), now, state.timings)
        if status not in HIDDEN_BY_DEFAULT:
            counts[host] += 1
        if status is SessionStatus.NEEDS_APPROVAL:
            approvals[host] += 1
    names = set(state.hosts) | {host for host, _sid in state.sessions}
    views = []
    for name in sorted(names):
        rec = state.hosts.get(name)
        birth = rec.status if rec else None
        seen = [t for t in (rec.last_seen if rec else None, heard.get(name)) if t is not None]
        views.append(
            HostView(
                host=name,
                state=sites.host_state(rec),
                since=sites.host_since(rec),
                site=sites.site_of(rec) if rec else None,
                bdseq=rec.bdseq if rec else None,
                last_seen=max(seen, default=None),
                sessions=counts[name],
                needs_approval=approvals[name],
                agent_version=birth.agent_version if birth else None,
                platform=birth.platform if birth else None,
                clock_skew_seconds=_rounded(rec.skew.seconds) if rec else None,
            )
        )
    return views


def _rounded(seconds: float | None) -> float | None:
    """Return ``seconds`` rounded to milliseconds (None stays None)."""
    return None if seconds is None else round(seconds, 3)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def summary_title(total: int, top_pct: Iterable[float], subagents: int, approvals: int) -> str:
    """Return the one-line summary a person reads without a legend.

    E.g. ``"12 sessions · 1 needs you · ctx 32%/23% · 1 subagent"``: live sessions, those
    waiting for an approval, the (up to two) highest context percentages, highest first (as
    ``top_context_pct``), running subagents. Parts with nothing to say are left out; the
    session count always stays.
    """
    parts = [_plural(total, "session")]
    if approvals:
        parts.append(f"{approvals} need{'s' if approvals == 1 else ''} you")
    pcts = sorted(top_pct, reverse=True)
    if pcts:
        parts.append("ctx " + "/".join(f"{round(p)}%" for p in pcts))
    if subagents:
        parts.append(_plural(subagents, "subagent"))
    return " · ".join(parts)


def summary_short_title(
    total: int, top_pct: Iterable[float], subagents: int, approvals: int
) -> str:
    """Return the compact form for a menu bar, e.g. ``"12 sess · ⚠1 · 32%/23% · 1 sub"``.

    The same parts in the same order as :func:`summary_title`.
    """
    parts = [f"{total} sess"]
    if approvals:
        parts.append(f"⚠{approvals}")
    pcts = sorted(top_pct, reverse=True)
    if pcts:
        parts.append("/".join(f"{round(p)}%" for p in pcts))
    if subagents:
        parts.append(f"{subagents} sub")
    return " · ".join(parts)


def summarize(state: AggregatorState, now: datetime, broker_connected: bool) -> Summary:
    """Return the totals of ``GET /summary`` over the sessions ``GET /sessions`` shows.

    ``stale`` counts stale sessions even though the default list hides them.
    """
    by_status: Counter[str] = Counter()
    by_host: Counter[str] = Counter()
    pcts: list[float] = []
    subagents = 0
    stale = 0
    for (host, _sid), record in state.sessions.items():
        status = effective_status(record, state.hosts.get(host), now, state.timings)
        if status is SessionStatus.STALE:
            stale += 1
        if status in HIDDEN_BY_DEFAULT:
            continue
        by_status[status.value] += 1
        by_host[host] += 1
        subagents += record.beat.subagents
        pct = context_pct(record.beat.context_tokens, record.beat.context_window)
        if pct is not None and status is not SessionStatus.OFFLINE:  # unreachable ones count
            pcts.append(pct)
    top = sorted(pcts, reverse=True)[:2]
    total = sum(by_status.values())
    approvals = by_status[SessionStatus.NEEDS_APPROVAL.value]
    shown = [sites.host_state(h) for h in state.hosts.values()]
    online = shown.count(HostState.ONLINE)
    offline = shown.count(HostState.OFFLINE)
    return Summary(
        total=total,
        active=sum(by_status[s.value] for s in ACTIVE),
        stale=stale,
        needs_approval=approvals,
        subagents=subagents,
        by_status=dict(by_status),
        by_host=dict(by_host),
        hosts_online=online,
        hosts_offline=offline,
        hosts_unreachable=shown.count(HostState.UNREACHABLE),
        top_context_pct=top,
        title=summary_title(total, top, subagents, approvals),
        short_title=summary_short_title(total, top, subagents, approvals),
        broker_connected=broker_connected,
    )
