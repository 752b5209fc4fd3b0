"""The MCP tools' logic, pure: the API's models and the caller in, result models out.

No I/O and no SDK here (``server.py`` calls the API and wraps these). Every string from the wire
goes through ``readers.render.safe_text``. The one-line ``summary`` of each result is written
here, for a model to act on; ``text.py`` renders the whole result for a reader.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from sessionbeat.mcp_server.caller import Caller
from sessionbeat.mcp_server.results import (
    ActiveSessions,
    CallerInfo,
    EndedSession,
    LiveSession,
    PeerSession,
    RecentSessions,
    SessionFacts,
    SessionReport,
    TimelineEntry,
    WhoElse,
)
from sessionbeat.models import (
    LIVE_STATUSES,
    HistoryEntry,
    HistoryPage,
    SessionDetail,
    SessionView,
    StatusChange,
)
from sessionbeat.publisher.git import pure_path
from sessionbeat.readers.render import ago, ago_since, duration, safe_text

RECENT_LIMIT = 20
"""Ended sessions ``recent_sessions`` returns at most."""
TIMELINE_LIMIT = 20
"""Status changes ``session`` returns at most (the newest)."""
SUMMARY_ITEMS = 5
"""Sessions named one by one in a summary line; the rest are counted."""


def _safe(text: str | None) -> str | None:
    return None if text is None else safe_text(text)


def same_path(a: str | None, b: str | None) -> bool:
    """Return True if two working directories name the same path (separators, trailing ``/``).

    Each is read in its own flavour (``publisher.git.pure_path``); nothing is resolved on disk.
    """
    return a is not None and b is not None and pure_path(a) == pure_path(b)


def is_live(view: SessionView) -> bool:
    """Return True for a session in one of :data:`LIVE_STATUSES`."""
    return view.status in LIVE_STATUSES


def identify(caller: Caller, host: str, views: Iterable[SessionView]) -> CallerInfo:
    """Return the caller for a result, completing a ``cwd`` caller from the live ``views``.

    ``host`` is this machine's host id. A caller known by id is returned as is. A ``cwd``
    caller becomes the one live session of ``host`` in that directory, if exactly one is;
    otherwise its id stays None and ``note`` says that no session is left out.
    """
    info = CallerInfo(
        session_id=caller.session_id,
        host=safe_text(host),
        cwd=safe_text(caller.cwd),
        repo=_safe(caller.repo),
        branch=_safe(caller.branch),
        source=caller.source,
    )
    if caller.session_id is not None:
        return info
    here = [v for v in views if is_live(v) and v.host == host and same_path(v.cwd, caller.cwd)]
    if len(here) == 1:
        return info.model_copy(update={"session_id": here[0].session_id})
    if here:
        note = (
            f"{len(here)} live sessions on {info.host} work in {info.cwd}: the caller could be "
            "any of them, so none is left out"
        )
    else:
        note = f"no live session on {info.host} works in {info.cwd}: the caller is not known"
    return info.model_copy(update={"note": note})


def live_session(view: SessionView, caller_id: str | None = None) -> LiveSession:
    """Return a live session as the tools show it; ``is_caller`` if its id is ``caller_id``."""
    return LiveSession(
        session_id=safe_text(view.session_id),
        host=safe_text(view.host),
        status=view.status.value,
        repo=_safe(view.repo),
        branch=_safe(view.branch),
        cwd=_safe(view.cwd),
        tool=_safe(view.tool),
        task=_safe(view.task),
        model=_safe(view.model),
        age_seconds=view.age_seconds,
        age=duration(view.age_seconds),
        idle_seconds=view.idle_seconds,
        last_active=ago(view.idle_seconds),
        is_caller=caller_id is not None and view.session_id == caller_id,
    )


def doing(status: str, tool: str | None) -> str:
    """Return a status in words with its tool: ``"working (Edit)"``, ``"idle"``."""
    words = status.replace("_", " ")
    return f"{words} ({tool})" if tool else words


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def active_sessions(
    views: Iterable[SessionView],
    caller: CallerInfo,
    *,
    repo: str | None = None,
    host: str | None = None,
    branch: str | None = None,
    include_self: bool = False,
) -> ActiveSessions:
    """Return the live sessions matching ``repo``, ``host`` and ``branch`` (exact, None: any).

    ``views`` is ``GET /sessions`` (its order kept: needs-approval first, then newest). The
    caller's own session is left out unless ``include_self``, where it is marked
    ``is_caller``.
    """
    chosen = [
        live_session(v, caller.session_id)
        for v in views
        if is_live(v)
        and (repo is None or v.repo == repo)
        and (host is None or v.host == host)
        and (branch is None or v.branch == branch)
    ]
    if not include_self:
        chosen = [s for s in chosen if not s.is_caller]
    asked = (("repo", repo), ("host", host), ("branch", branch))
    filters = [f"{k} {safe_text(v)}" for k, v in asked if v is not None]
    scope = f" ({', '.join(filters)})" if filters else ""
    other = "other " if caller.session_id and not include_self else ""
    if not chosen:
        summary = f"No {other}live session{scope}."
    else:
        counts = Counter(s.status for s in chosen)
        words = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.most_common())
        noun = "session" if len(chosen) == 1 else "sessions"
        summary = f"{len(chosen)} {other}live {noun}{scope}: {words}."
    if caller.note:
        summary += f" ({caller.note}.)"
    return ActiveSessions(summary=summary, caller=caller, sessions=chosen)


def _peer(view: SessionView, caller: CallerInfo) -> PeerSession:
    base = live_session(view, caller.session_id)
    return PeerSession(
        **base.model_dump(),
        same_branch=caller.branch is not None and view.branch == caller.branch,
        same_cwd=same_path(view.cwd, caller.cwd),
    )


def peer_words(peer: PeerSession) -> str:
    """Describe a peer for a summary: ``"kai-server (same branch main, working (Edit))"``."""
    if peer.same_branch:
        where = f"same branch {peer.branch}"
    else:
        where = f"branch {peer.branch}" if peer.branch else "no branch"
    if peer.same_cwd:
        where += ", same folder"
    task = f", task {peer.task!r}" if peer.task else ""
    return f"{peer.host} ({where}, {doing(peer.status, peer.tool)}{task})"


def _listed(items: Sequence[str]) -> str:
    shown = "; ".join(items[:SUMMARY_ITEMS])
    rest = len(items) - SUMMARY_ITEMS
    return shown + (f"; and {rest} more" if rest > 0 else "")


def who_else(views: Iterable[SessionView], caller: CallerInfo) -> WhoElse:
    """Return the other live sessions on the caller's repository (any host).

    Sessions match by repository name (the beats' ``repo``, the top-level folder of the git
    repository); outside a repository, by working directory. The caller is left out when its
    id is known. Same directory first, then same branch, then the API's order.
    """
    if caller.repo is not None:
        matches = [v for v in views if is_live(v) and v.repo == caller.repo]
        place = caller.repo
    else:
        matches = [v for v in views if is_live(v) and same_path(v.cwd, caller.cwd)]
        place = caller.cwd
    peers = [p for p in (_peer(v, caller) for v in matches) if not p.is_caller]
    peers.sort(key=lambda p: (not p.same_cwd, not p.same_branch))
    where = f"on {place}" if caller.repo is not None else f"in {place} (not a git repository)"
    if not peers:
        summary = f"No other live session works {where}."
    else:
        verb = "works" if len(peers) == 1 else "work"
        summary = (
            f"{_plural(len(peers), 'other session')} {verb} {where}: "
            f"{_listed([peer_words(p) for p in peers])}."
        )
    if caller.note:
        summary += f" ({caller.note}.)"
    return WhoElse(summary=summary, caller=caller, repo=caller.repo, sessions=peers)


def _timeline(changes: Sequence[StatusChange]) -> list[TimelineEntry]:
    return [
        TimelineEntry(at=c.at, status=c.status.value, event=_safe(c.event))
        for c in changes[-TIMELINE_LIMIT:]
    ]


def session_report(item: SessionDetail | HistoryEntry, now: datetime) -> SessionReport:
    """Return one session (live detail or history entry) with its last status changes.

    ``now`` (aware UTC) dates the history's words (``"ended 2 h ago"``).
    """
    started, last = item.started_at, item.last_activity_at
    if isinstance(item, SessionDetail):
        age_seconds, tool, pct, reaped = item.age_seconds, item.tool, item.context_pct, None
        end = None
    else:
        end = last or item.reaped_at
        age_seconds = (end - started).total_seconds() if started else None
        tool, reaped = None, item.reaped_at
        pct = (
            100 * item.context_tokens / item.context_window
            if item.context_tokens is not None and item.context_window
            else None
        )
    facts = SessionFacts(
        session_id=safe_text(item.session_id),
        host=safe_text(item.host),
        status=item.status.value,
        repo=_safe(item.repo),
        branch=_safe(item.branch),
        cwd=_safe(item.cwd),
        tool=_safe(tool),
        task=_safe(item.task),
        model=_safe(item.model),
        started_at=started,
        last_activity_at=last,
        age=duration(age_seconds),
        context_pct=pct,
        end_reason=_safe(item.end_reason),
        reaped_at=reaped,
    )
    timeline = _timeline(item.timeline)
    where = f"{facts.repo or facts.cwd or 'an unknown folder'}"
    if facts.branch:
        where += f" on branch {facts.branch}"
    head = f"{facts.session_id} on {facts.host}"
    task = f", task {facts.task!r}" if facts.task else ""
    if end is None:
        state = f"{doing(facts.status, facts.tool)} in {where}{task}, running {facts.age}"
    else:
        reason = f" ({facts.end_reason})" if facts.end_reason else ""
        state = (
            f"ended{reason} in {where}{task}, last active {ago_since(end, now)} "
            f"after running {facts.age}"
        )
    summary = f"{head}: {state}; {_plural(len(timeline), 'status change')} shown."
    return SessionReport(
        summary=summary,
        source="live" if end is None else "history",
        session=facts,
        timeline=timeline,
    )


def ended_session(entry: HistoryEntry, now: datetime) -> EndedSession:
    """Return one history entry as ``recent_sessions`` shows it (``now`` dates its words)."""
    return EndedSession(
        session_id=safe_text(entry.session_id),
        host=safe_text(entry.host),
        repo=_safe(entry.repo),
        branch=_safe(entry.branch),
        cwd=_safe(entry.cwd),
        task=_safe(entry.task),
        status=entry.status.value,
        end_reason=_safe(entry.end_reason),
        started_at=entry.started_at,
        last_activity_at=entry.last_activity_at,
        reaped_at=entry.reaped_at,
        ended=ago_since(entry.last_activity_at or entry.reaped_at, now),
    )


def recent_sessions(
    page: HistoryPage, now: datetime, *, repo: str | None = None, since: str | None = None
) -> RecentSessions:
    """Return a history page (``GET /history``, newest first) as ``recent_sessions``' result.

    ``repo`` and ``since`` are the filters asked, only named in the summary.
    """
    sessions = [ended_session(e, now) for e in page.items]
    filters = [f"{k} {safe_text(v)}" for k, v in (("repo", repo), ("since", since)) if v]
    scope = f" ({', '.join(filters)})" if filters else ""
    if not sessions:
        summary = f"No ended session in the history{scope}."
    else:
        named = [
            f"{s.host} ({s.repo or s.cwd or '?'}"
            + (f"@{s.branch}" if s.branch else "")
            + (f", {s.task!r}" if s.task else "")
            + f", last active {s.ended})"
            for s in sessions
        ]
        shown = f"; the {len(sessions)} newest" if page.total > len(sessions) else ""
        summary = f"{_plural(page.total, 'ended session')} in the history{scope}{shown}: "
        summary += f"{_listed(named)}."
    return RecentSessions(summary=summary, total=page.total, sessions=sessions)
