"""The words of a notification: title, body and link for one :class:`~.rules.Send` (pure).

One approval reads::

    kai-server · sessionbeat needs approval
    Bash: npm test -- --watch=false
    sessionbeat (main) · Fix the flaky test
    waiting 6 s
    http://kai-server:8501/?session=...&shost=kai-server

Several approvals falling due together make one message titled "3 sessions need you", a line
each. Text from the wire passes through :func:`~sessionbeat.notifier.messages.clean` (control
and bidi characters removed, long values cut), because it lands on a phone's lock screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from urllib.parse import urlencode

from sessionbeat.models import NotifyKind
from sessionbeat.notifier.rules import Episode, Facts, Send, StoredEpisode
from sessionbeat.text import duration, safe_text

MAX_DETAIL = 120
"""Characters of a tool's detail (the command, the file) a message shows at most."""
MAX_FIELD = 60
"""Characters of a repo, branch, task or host a message shows at most."""
MAX_LINES = 10
"""Episodes listed in a batched message at most (then "and N more")."""


@dataclass(frozen=True)
class Message:
    """A notification: ``title``, ``body`` (plain text, lines), ``click`` (a link or None).

    ``priority`` is ``high`` for approvals and stuck sessions, ``default`` otherwise; ``tags``
    are ntfy tag names (shown as emoji there).
    """

    title: str
    body: str
    click: str | None = None
    priority: str = "default"
    tags: tuple[str, ...] = ()


def clean(text: str | None, limit: int = MAX_FIELD) -> str:
    """Return ``text`` made safe (:func:`~sessionbeat.text.safe_text`), cut to ``limit``.

    Runs of whitespace become one space; a cut text ends with ``…``. None gives ``""``.
    """
    if not text:
        return ""
    kept = " ".join(safe_text(text).split())
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def _where(f: Facts) -> str:
    """Return ``repo (branch)`` or the cwd's last part, else ``a session``."""
    if f.repo:
        return clean(f.repo) + (f" ({clean(f.branch)})" if f.branch else "")
    if f.cwd:
        return clean(PurePath(f.cwd.replace("\\", "/")).name or f.cwd)
    return "a session"


def _wants(f: Facts) -> str:
    """Return the tool and its detail (``Bash: npm test``), else what it waits at."""
    if f.tool:
        return clean(f.tool) + (f": {clean(f.detail, MAX_DETAIL)}" if f.detail else "")
    if f.waiting_for:
        return f"waiting at the {clean(f.waiting_for)}"
    return "waiting for your approval"


def session_link(public_url: str | None, host: str, session_id: str | None) -> str | None:
    """Return the page's link to one session (``?session=&shost=``), None without a URL."""
    if not public_url:
        return None
    base = public_url.rstrip("/") + "/"
    if session_id is None:
        return base + "?" + urlencode({"host": host})
    return base + "?" + urlencode({"session": session_id, "shost": host})


def _line(ep: Episode, now: datetime) -> str:
    f = ep.facts
    waited = duration((now - ep.opened_at).total_seconds())
    return f"{clean(f.host)} · {_where(f)} · {_wants(f)} · {waited}"


def render(send: Send, now: datetime, public_url: str | None) -> Message:
    """Return the message for ``send`` at ``now`` (aware UTC), linking to ``public_url``."""
    eps = send.episodes
    first = eps[0]
    f = first.facts
    kind = send.kind
    if len(eps) > 1:
        return _batch(send, now, public_url)
    waited = duration((now - first.opened_at).total_seconds())
    link = session_link(public_url, first.host, first.session_id)
    if kind is NotifyKind.NEEDS_APPROVAL:
        title = f"{clean(f.host)} · {_where(f)} needs approval"
        lines = [
            _wants(f),
            _where(f) + (f" · {clean(f.task)}" if f.task else ""),
            f"waiting {waited}",
        ]
        return Message(title, _body(lines, link), link, "high", ("warning",))
    if kind is NotifyKind.STUCK:
        title = f"{clean(f.host)} · {_where(f)} may be stuck"
        lines = [f"working with no sign of life for {waited}"]
        if f.tool or f.task:
            lines.append(clean(f.tool or f.task))
        return Message(title, _body(lines, link), link, "high", ("hourglass",))
    if kind is NotifyKind.HOST_OFFLINE:
        title = f"{clean(f.host)} went offline"
        count = f.sessions or 0
        lines = [f"offline for {waited}; {count} session{'s' if count != 1 else ''} on it"]
        return Message(title, _body(lines, link), link, "default", ("electric_plug",))
    # turn finished
    title = f"{clean(f.host)} · {_where(f)} finished its turn"
    worked = duration(f.worked_seconds or 0)
    lines = [f"after {worked} of work" + (f" · {clean(f.task)}" if f.task else "")]
    return Message(title, _body(lines, link), link, "default", ("white_check_mark",))


def _batch(send: Send, now: datetime, public_url: str | None) -> Message:
    eps = send.episodes
    n = len(eps)
    titles = {
        NotifyKind.NEEDS_APPROVAL: f"{n} sessions need you",
        NotifyKind.STUCK: f"{n} sessions may be stuck",
        NotifyKind.HOST_OFFLINE: f"{n} hosts went offline",
        NotifyKind.TURN_FINISHED: f"{n} sessions finished their turn",
    }
    lines = [_line(ep, now) for ep in eps[:MAX_LINES]]
    if n > MAX_LINES:
        lines.append(f"and {n - MAX_LINES} more")
    link = None
    if public_url:
        query = {"status": "needs_approval"} if send.kind is NotifyKind.NEEDS_APPROVAL else {}
        link = public_url.rstrip("/") + "/" + (f"?{urlencode(query)}" if query else "")
    high = send.kind in (NotifyKind.NEEDS_APPROVAL, NotifyKind.STUCK)
    return Message(
        titles[send.kind], _body(lines, link), link, "high" if high else "default", ("warning",)
    )


def answered(kind: NotifyKind, episodes: tuple[Episode | StoredEpisode, ...]) -> Message:
    """Return the short follow-up sent where a message cannot be withdrawn."""
    hosts = sorted({clean(ep.host) for ep in episodes})
    what = "approval answered" if kind is NotifyKind.NEEDS_APPROVAL else f"{kind.value} over"
    return Message(f"✓ {what}", " · ".join(hosts), None, "low", ("white_check_mark",))


def _body(lines: list[str], link: str | None) -> str:
    return "\n".join([*lines, link] if link else lines)
