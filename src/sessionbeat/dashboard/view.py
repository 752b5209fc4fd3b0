"""What the phone page shows, as pure functions of the API's models (no Streamlit, no I/O).

Filters come from and go to the URL query (``?host=&repo=&status=&group=&session=&shost=``)
so a bookmark keeps them; the detail's and the history's pure parts are in ``detail_view`` and
``history_view``. Cards are small HTML fragments (every value escaped and cleaned of control
and bidi characters by :func:`esc`; Markdown text by :func:`md`) styled by the ``CSS`` of
``dashboard/style.py``, which uses only colours that read on dark and light themes: status is
shown by an icon and a word as well as a colour, never by colour alone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sessionbeat.models import STATUS_ORDER, HostState, HostView, SessionStatus, SessionView
from sessionbeat.readers.render import STATUS_ICONS, ago_since, duration, safe_text, short_id

SECTIONS: tuple[SessionStatus, ...] = STATUS_ORDER
"""Status sections in the order the page shows them (what needs the user first)."""

TITLES: dict[str, str] = {
    SessionStatus.NEEDS_APPROVAL: "Needs approval",
    SessionStatus.WORKING: "Working",
    SessionStatus.WAITING_FOR_INPUT: "Waiting for input",
    SessionStatus.UNKNOWN: "Unknown",
    SessionStatus.IDLE: "Idle",
    SessionStatus.STALE: "Stale",
    SessionStatus.UNREACHABLE: "Unreachable",
    SessionStatus.OFFLINE: "Offline",
    SessionStatus.ENDED: "Ended",
}
"""The display title of each status (keyed by :class:`SessionStatus`, a ``str``)."""

COLOURS: dict[str, str] = {
    SessionStatus.NEEDS_APPROVAL: "#e8590c",
    SessionStatus.WORKING: "#2f9e44",
    SessionStatus.WAITING_FOR_INPUT: "#1c7ed6",
    SessionStatus.UNKNOWN: "#868e96",
    SessionStatus.IDLE: "#868e96",
    SessionStatus.STALE: "#ae3ec9",
    SessionStatus.UNREACHABLE: "#f08c00",
    SessionStatus.OFFLINE: "#e03131",
    SessionStatus.ENDED: "#868e96",
}
"""Status colours: mid-tone, readable on dark and light backgrounds."""

EVENT_WORDS = {
    "SessionStart": "new session",
    "UserPromptSubmit": "thinking",
    "PreCompact": "compacting the context",
    "PostCompact": "context compacted",
    "SubagentStart": "running a subagent",
    "SubagentStop": "a subagent finished",
    "Stop": "your turn",
    "StopFailure": "stopped on an API error",
    "Notification": "waiting for you",
    "SessionEnd": "ended",
}
"""What a session is doing, in words, after a hook event that names no tool or task
(event names: docs/claude-code-formats.md section 1)."""

STATUS_WORDS = {
    "working": "working",
    "waiting_for_input": "your turn",
    "idle": "quiet",
    "stale": "no news from its host",
    "offline": "its host is offline",
    "unreachable": "its site's link is down",
}
"""What a session is doing when neither a tool, a task nor a hook event says more."""


HOSTS_SHOWN = 8
"""With more hosts than this the strip shows only those that need a look (the rest folded)."""


class Grouping(StrEnum):
    """How the session cards are grouped."""

    STATUS = "status"
    HOST = "host"
    REPO = "repo"


@dataclass(frozen=True, slots=True)
class Filters:
    """The page's filters; ``None`` means all. ``session`` opens one session's detail."""

    host: str | None = None
    repo: str | None = None
    status: SessionStatus | None = None
    group: Grouping = Grouping.STATUS
    session: str | None = None
    session_host: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        """Read filters from URL query parameters; unknown values are ignored."""
        group = query.get("group", Grouping.STATUS.value)
        status = query.get("status")
        return cls(
            host=query.get("host") or None,
            repo=query.get("repo") or None,
            status=SessionStatus(status) if status in SECTIONS else None,
            group=Grouping(group) if group in Grouping._value2member_map_ else Grouping.STATUS,
            session=query.get("session") or None,
            session_host=query.get("shost") or None,
        )

    def to_query(self) -> dict[str, str]:
        """Return the query parameters that encode these filters (defaults left out)."""
        out = {
            "host": self.host,
            "repo": self.repo,
            "status": self.status.value if self.status else None,
            "session": self.session,
            "shost": self.session_host,
        }
        query = {k: v for k, v in out.items() if v}
        if self.group is not Grouping.STATUS:
            query["group"] = self.group.value
        return query

    def matches(self, view: SessionView) -> bool:
        """Return True if ``view`` passes the host, repo and status filters."""
        return (
            (self.host is None or view.host == self.host)
            and (self.repo is None or (view.repo or "-") == self.repo)
            and (self.status is None or view.status == self.status)
        )


_MARKDOWN = re.compile(r"([\\`*_\[\]()#!|<>~:$])")


def md(text: str) -> str:
    """Return ``text`` as plain text for Streamlit Markdown, on one line.

    The marks that Markdown, Streamlit's ``:colour[...]`` directives or ``$`` math read as
    formatting, links or images are escaped with a backslash, so values from the wire (repo
    names, paths, hook events) render as they are; control and bidi characters are removed
    (``render.safe_text``).
    """
    return _MARKDOWN.sub(r"\\\1", " ".join(safe_text(text).split()))


def esc(value: object) -> str:
    """Return ``value`` as HTML text on one line, without control or bidi characters.

    A blank line inside a value would end the card's HTML block and let Markdown read the rest;
    a bidi override would show the rest of the card reversed (``render.safe_text``).
    """
    return html.escape(" ".join(safe_text(str(value)).split()))


def ago(when: datetime | None, now: datetime) -> str:
    """Return ``"2 min ago"`` style text: ``"<1 min ago"`` under a minute, ``"-"`` for None.

    Minute steps keep a card's text the same from one 2 s refresh to the next, so Streamlit
    can send the phone a reference to a section it already has instead of the section again;
    under a minute says so rather than "just now" (which 43 s is not).
    """
    if when is None:
        return "-"
    seconds = (now - when).total_seconds()
    return "<1 min ago" if seconds < 60 else ago_since(when, now)


def lasting(seconds: float) -> str:
    """Return how long something has lasted in minute steps: ``"<1 min"``, ``"2 min"``."""
    return "<1 min" if seconds < 60 else duration(seconds)


def badge(status: str) -> str:
    """Return the HTML badge of a status: colour, icon and words."""
    colour = COLOURS.get(status, "#868e96")
    icon = STATUS_ICONS.get(status, "·")
    return (
        f'<span class="sb-badge" style="border-color:{colour};color:{colour}">'
        f"{icon} {esc(TITLES.get(status, status))}</span>"
    )


def context_bar(pct: float | None) -> str:
    """Return an HTML context bar for 0-100 (%), or an empty string when unknown."""
    if pct is None:
        return ""
    width = max(0.0, min(100.0, pct))
    colour = "#e03131" if pct >= 90 else "#e8590c" if pct >= 70 else "#2f9e44"
    return (
        f'<div class="sb-ctx" title="context {pct:.0f}%"><div style="width:{width:.0f}%;'
        f'background:{colour}"></div></div><span class="sb-small">ctx {pct:.0f}%</span>'
    )


def doing(view: SessionView) -> str:
    """Return what a session is doing, in a few words.

    The tool it waits for (with the approval detail) or uses, else its task, else the last
    hook event in words (:data:`EVENT_WORDS`).
    """
    status = view.status
    if status is SessionStatus.NEEDS_APPROVAL:
        if view.tool:
            wants = f"wants {view.tool}"
        else:
            wait = view.waiting_for
            wants = f"waiting at the {wait}" if wait else "waiting for your approval"
        return wants + (f": {view.detail}" if view.detail else "")
    if status is SessionStatus.ENDED:
        return "ended" + (f" ({view.end_reason})" if view.end_reason else "")
    if view.tool and status is SessionStatus.WORKING:
        return view.tool + (f" · {view.task}" if view.task else "")
    if view.task:
        return view.task
    if view.event:
        return EVENT_WORDS.get(view.event, view.event)
    return STATUS_WORDS.get(status, "")


def place(repo: str | None, cwd: str | None, session_id: str) -> str:
    """Return the name a card shows: the repo, else the working folder, else the short id."""
    folder = cwd.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] if cwd else ""
    return repo or folder or f"session {short_id(session_id)}"


def card(
    view: SessionView, now: datetime, link: str | None, mates: int = 0, exact: bool = True
) -> str:
    """Return the HTML card of one session; ``link`` is its detail URL (None: no link).

    ``mates`` (2 or more) is how many live sessions share its repo and branch, itself included
    (:func:`~sessionbeat.readers.branchmates.branch_mates`): the card says "2 on this branch";
    with ``exact`` False the count is a lower bound (counted among the sessions the page
    holds, not the whole fleet) and the card says "2+ on this branch".
    """
    e = esc
    where = place(view.repo, view.cwd, view.session_id)
    branch = f" <span class='sb-small'>@{e(view.branch)}</span>" if view.branch else ""
    if mates >= 2:
        branch += (
            f" <span class='sb-mates' title='live sessions on this repo and branch'>"
            f"{mates}{'' if exact else '+'} on this branch</span>"
        )
    wait = ""
    if view.status is SessionStatus.NEEDS_APPROVAL and view.waiting_seconds is not None:
        wait = f"<span class='sb-wait'>waiting {duration(view.waiting_seconds)}</span>"
    meta = [e(view.host)]
    if view.headless:
        meta.append("headless")
    if view.model:
        meta.append(e(view.model))
    if view.subagents:
        meta.append(f"{view.subagents} subagent{'s' if view.subagents != 1 else ''}")
    meta.append(f"active {ago(view.last_activity_at, now)}")
    colour = COLOURS.get(view.status.value, "#868e96")
    return (
        f'<div class="sb-card" style="border-left-color:{colour}">'
        f'<div class="sb-head"><b>{e(where)}</b>{branch} {badge(view.status.value)} {wait}</div>'
        f'<div class="sb-doing">{e(doing(view)) or "&nbsp;"}</div>'
        f"{context_bar(view.context_pct)}"
        f'<div class="sb-small">{" · ".join(meta)}{details(link)}</div></div>'
    )


def details(link: str | None) -> str:
    """Return the " · details" link of a card (empty for None), opening in the same tab."""
    return "" if link is None else f' · <a href="{esc(link)}" target="_self">details</a>'


@dataclass(frozen=True, slots=True)
class Section:
    """One heading of the live page and the session cards under it.

    ``title`` is a status's title (:data:`TITLES`), a host id or a repo name; ``status`` is the
    section's status when the cards are grouped by status, None for a host or repo group.
    """

    title: str
    views: list[SessionView]
    status: SessionStatus | None = None
    total: int | None = None

    @property
    def label(self) -> str:
        """The heading as Streamlit Markdown: icon, title and count, ``"⚠ Needs approval (2)"``.

        ``total`` (None: unknown) is how many the section has in the whole fleet; when the
        page holds fewer, ``"Working (50 of 3,400)"``. The title is escaped (:func:`md`): a
        host or repo name comes from the wire.
        """
        icon = f"{STATUS_ICONS[self.status]} " if self.status else ""
        shown = len(self.views)
        count = f"{shown} of {self.total:,}" if self.total and self.total > shown else f"{shown}"
        return f"{icon}{md(self.title)} ({count})"

    @property
    def folded(self) -> bool:
        """True for the ended sessions: the page shows them in a closed expander."""
        return self.status is SessionStatus.ENDED


def group_sessions(
    views: Iterable[SessionView],
    grouping: Grouping,
    totals: Mapping[str, int] | None = None,
) -> list[Section]:
    """Group sessions for the page: by status (fixed section order), host or repo (by name).

    Ended sessions are only shown when grouped by status; empty groups are left out.
    ``totals`` (status -> sessions in the whole fleet, e.g. ``Summary.by_status``) gives the
    status sections their :attr:`Section.total`.
    """
    groups: dict[str, list[SessionView]] = {}
    for view in views:
        if grouping is Grouping.STATUS:
            key: str = view.status
        elif view.status is SessionStatus.ENDED:
            continue
        elif grouping is Grouping.HOST:
            key = view.host
        else:
            key = view.repo or "-"
        groups.setdefault(key, []).append(view)
    if grouping is Grouping.STATUS:
        counts = totals or {}
        return [
            Section(TITLES[s], groups[s], s, counts.get(s.value)) for s in SECTIONS if s in groups
        ]
    return [Section(name, views) for name, views in sorted(groups.items())]


@dataclass(frozen=True, slots=True)
class LiveLayout:
    """What the live page shows under the hosts strip and the filters, top to bottom.

    ``approvals``: the sessions waiting for approval, on top whatever the grouping (possibly no
    session; the page then says nothing waits). ``sections``: the grouped cards; grouped by
    status they leave out the approvals already on top. ``empty``: the message shown when no
    card is shown at all, else None.
    """

    approvals: Section
    sections: list[Section]
    empty: str | None


def live_layout(
    sessions: Sequence[SessionView],
    filters: Filters,
    totals: Mapping[str, int] | None = None,
) -> LiveLayout:
    """Return the live page's layout for the sessions the page holds under ``filters``.

    Takes the sessions the page holds (the overview's approvals and first page, or a filtered
    page of ``GET /sessions``, and the pages "Show more" added); applies the host, repo and
    status filters (a no-op on a list the server filtered) and the grouping
    (:func:`group_sessions`). ``totals`` (status -> number in the whole fleet, None: unknown)
    labels the status sections "50 of 3,400" when the page holds fewer.
    """
    shown = [v for v in sessions if filters.matches(v)]
    waiting = SessionStatus.NEEDS_APPROVAL
    approvals = [v for v in shown if v.status is waiting]
    if filters.group is Grouping.STATUS:
        shown = [v for v in shown if v.status is not waiting]
    sections = group_sessions(shown, filters.group, totals)
    empty = None
    if not sections and not approvals:
        empty = "No sessions" + (" match the filters." if sessions else " yet.")
    total = (totals or {}).get(waiting.value)
    return LiveLayout(Section(TITLES[waiting], approvals, waiting, total), sections, empty)


def host_state_label(host: HostView) -> str:
    """Return a host's state in words for the host strip and tables.

    ``online``, ``offline``, ``unknown`` (never heard of) or, while its site's bridge is down,
    ``unreachable: site office link down``.
    """
    if host.state is HostState.UNREACHABLE:
        return f"unreachable: site {host.site} link down"
    return host.state.value if host.state else "unknown"


def host_chip(host: HostView, now: datetime) -> str:
    """Return the HTML chip of a host: state icon and word, for how long, live sessions."""
    state = host_state_label(host)
    icon = {"online": "▲", "offline": "✕"}.get(state, "·")
    colour = {"online": "#2f9e44", "offline": "#e03131"}.get(state, "#868e96")
    if host.state is HostState.UNREACHABLE:
        icon, colour = "◇", COLOURS[SessionStatus.UNREACHABLE]
    since = f" for {lasting((now - host.since).total_seconds())}" if host.since else ""
    approvals = f" · ⚠ {host.needs_approval}" if host.needs_approval else ""
    return (
        f'<span class="sb-chip" style="border-color:{colour}">'
        f'<span style="color:{colour}">{icon} {state}</span> <b>{esc(host.host)}</b>'
        f"<span class='sb-small'>{since} · {host.sessions} live{approvals}</span></span>"
    )


def notable_hosts(hosts: Sequence[HostView], limit: int = HOSTS_SHOWN) -> list[HostView]:
    """Return the hosts the strip shows.

    All of them up to ``limit``; else only those not online or with a session waiting for
    approval (the page folds the full list away).
    """
    if len(hosts) <= limit:
        return list(hosts)
    return [h for h in hosts if h.state is not HostState.ONLINE or h.needs_approval]
