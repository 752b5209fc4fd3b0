"""The MCP tools' results as readable plain text (the ``content`` beside ``structuredContent``).

Pure; the strings in the results are already safe (``tools.py``). One line per session, the
result's summary first. Clients that show a tool's text rather than its structured content
(most but Claude Code, anthropics/claude-code#54450) show this.
"""

from __future__ import annotations

from sessionbeat.mcp_server.results import (
    ActiveSessions,
    CallerInfo,
    EndedSession,
    LiveSession,
    PeerSession,
    RecentSessions,
    SessionReport,
    WhoElse,
)
from sessionbeat.mcp_server.tools import doing
from sessionbeat.readers.render import clock_time


def _where(repo: str | None, branch: str | None, cwd: str | None) -> str:
    place = repo or cwd or "?"
    return f"{place}@{branch}" if branch else place


def caller_line(caller: CallerInfo) -> str:
    """Return ``"You: <id> on <host> in <cwd> (<repo@branch>; found by <source>)"``."""
    who = caller.session_id or "unknown session"
    where = _where(caller.repo, caller.branch, None) if caller.repo else "no git repository"
    return f"You: {who} on {caller.host} in {caller.cwd} ({where}; found by {caller.source})"


def session_line(session: LiveSession) -> str:
    """Return one live session as a line: host, status and tool, place, task, age, id."""
    task = f", task {session.task!r}" if session.task else ""
    flags = []
    if isinstance(session, PeerSession):
        if session.same_branch:
            flags.append("same branch")
        if session.same_cwd:
            flags.append("same folder")
    if session.is_caller:
        flags.append("you")
    marks = f" [{', '.join(flags)}]" if flags else ""
    return (
        f"- {session.host}: {doing(session.status, session.tool)} in "
        f"{_where(session.repo, session.branch, session.cwd)}{task}; running {session.age}, "
        f"last active {session.last_active}; cwd {session.cwd or '-'}; "
        f"id {session.session_id}{marks}"
    )


def active_text(result: ActiveSessions | WhoElse) -> str:
    """Return ``active_sessions`` or ``who_else_is_here`` as text: summary, caller, sessions."""
    lines = [result.summary, caller_line(result.caller)]
    lines += [session_line(s) for s in result.sessions]
    return "\n".join(lines)


def report_text(result: SessionReport) -> str:
    """Return ``session`` as text: summary, facts, then the timeline (oldest first, UTC)."""
    s = result.session
    lines = [
        result.summary,
        f"host {s.host}; status {s.status}; place {_where(s.repo, s.branch, s.cwd)}",
        f"cwd {s.cwd or '-'}; model {s.model or '-'}; task {s.task or '-'}",
    ]
    if s.context_pct is not None:
        lines.append(f"context {round(s.context_pct)}% used")
    lines.append("timeline (UTC):")
    lines += [
        f"  {clock_time(c.at)} {c.status}" + (f" ({c.event})" if c.event else "")
        for c in result.timeline
    ]
    return "\n".join(lines)


def ended_line(session: EndedSession) -> str:
    """Return one ended session as a line: host, place, task, end, id."""
    task = f", task {session.task!r}" if session.task else ""
    reason = f" ({session.end_reason})" if session.end_reason else ""
    return (
        f"- {session.host}: {_where(session.repo, session.branch, session.cwd)}{task}; "
        f"ended{reason}, last active {session.ended}; id {session.session_id}"
    )


def recent_text(result: RecentSessions) -> str:
    """Return ``recent_sessions`` as text: summary, then one line per ended session."""
    return "\n".join([result.summary, *(ended_line(s) for s in result.sessions)])
