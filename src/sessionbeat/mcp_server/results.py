"""What the MCP tools return: pydantic models, so the SDK derives each tool's output schema.

Every result carries ``summary``, one line a model can act on: Claude Code hands a tool's
``structuredContent`` to the model instead of its text when both are present
(anthropics/claude-code#54450, #55677), so the words must be inside the structured result too.
Every string that came over the wire went through ``readers.render.safe_text``; times are aware
UTC datetimes (ISO 8601 in JSON), durations seconds with a human form beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

CallerSource = Literal["registry", "env", "cwd"]
"""How the calling session was recognised (see ``mcp_server.caller``)."""


class CallerInfo(BaseModel):
    """The session that called the tool, as far as it could be recognised.

    ``source`` is ``registry`` (Claude Code's session registry of an ancestor process),
    ``env`` (``CLAUDE_CODE_SESSION_ID``) or ``cwd`` (only the working directory is known: the
    caller is the one live session of this host in that directory, if exactly one is).
    ``session_id`` is None when it stays unknown; then no session is left out as "self", and
    ``note`` says why.
    """

    session_id: str | None = Field(description="the calling session's id, None if unknown")
    host: str = Field(description="this machine's sessionbeat host id")
    cwd: str = Field(description="the calling session's working directory")
    repo: str | None = Field(description="git repository name (its top-level folder)")
    branch: str | None = Field(description="git branch (short commit id when detached)")
    source: CallerSource = Field(description="registry, env or cwd: how the caller was found")
    note: str | None = Field(None, description="why the caller may be unsure, if it is")


class LiveSession(BaseModel):
    """One live Claude Code session (any host) as the tools show it."""

    session_id: str
    host: str = Field(description="sessionbeat host id of the machine it runs on")
    status: str = Field(
        description="working, needs_approval, waiting_for_input, idle or unknown",
    )
    repo: str | None
    branch: str | None
    cwd: str | None = Field(description="its working directory on its host")
    tool: str | None = Field(description="the tool in use or awaiting approval")
    task: str | None = Field(description="the in-progress todo or the session's title")
    model: str | None
    age_seconds: float | None = Field(description="seconds since the session started")
    age: str = Field(description="age in words, e.g. '3 h 05 min'")
    idle_seconds: float | None = Field(description="seconds since its last hook activity")
    last_active: str = Field(description="last activity in words, e.g. '2 min ago'")
    is_caller: bool = Field(False, description="True for the session calling the tool")


class PeerSession(LiveSession):
    """A live session on the caller's repository, compared with the caller."""

    same_branch: bool = Field(description="on the caller's branch")
    same_cwd: bool = Field(description="in the caller's working directory")


class ActiveSessions(BaseModel):
    """``active_sessions``: the live sessions that match, needs-approval first, then newest."""

    summary: str
    caller: CallerInfo
    sessions: list[LiveSession]


class WhoElse(BaseModel):
    """``who_else_is_here``: the other live sessions on the caller's repository."""

    summary: str
    caller: CallerInfo
    repo: str | None = Field(description="the repository compared (the caller's)")
    sessions: list[PeerSession]


class TimelineEntry(BaseModel):
    """One status change the aggregator saw (its clock)."""

    at: datetime
    status: str
    event: str | None = Field(description="the hook event that caused it, if any")


class SessionFacts(BaseModel):
    """One session's facts, live or from the history."""

    session_id: str
    host: str
    status: str
    repo: str | None
    branch: str | None
    cwd: str | None
    tool: str | None
    task: str | None
    model: str | None
    started_at: datetime | None
    last_activity_at: datetime | None
    age: str = Field(description="how long it ran (live: so far), in words")
    context_pct: float | None = Field(description="context window used, 0-100")
    end_reason: str | None = Field(description="Claude Code's SessionEnd reason, if ended")
    reaped_at: datetime | None = Field(description="when it left the live state (history)")


class SessionReport(BaseModel):
    """``session``: one session and its last status changes (oldest first)."""

    summary: str
    source: Literal["live", "history"] = Field(description="live state or the history")
    session: SessionFacts
    timeline: list[TimelineEntry]


class EndedSession(BaseModel):
    """One session that ended, from the aggregator's history."""

    session_id: str
    host: str
    repo: str | None
    branch: str | None
    cwd: str | None
    task: str | None
    status: str = Field(description="its last status before it was reaped")
    end_reason: str | None
    started_at: datetime | None
    last_activity_at: datetime | None
    reaped_at: datetime
    ended: str = Field(description="when it was last active, in words, e.g. '2 h 10 min ago'")


class RecentSessions(BaseModel):
    """``recent_sessions``: ended sessions, newest first, at most ``RECENT_LIMIT``."""

    summary: str
    total: int = Field(description="how many history entries match (more than shown if larger)")
    sessions: list[EndedSession]
