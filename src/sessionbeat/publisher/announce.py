"""The answer to ``publish --announce``: which other live sessions work on a new session's repo.

Claude Code adds a SessionStart hook's ``hookSpecificOutput.additionalContext`` to the model's
context (https://code.claude.com/docs/en/hooks, docs/claude-code-formats.md section 2, "JSON
output"). :class:`Announcer` answers the hook's ``SA1`` frame on the IPC server's thread, from
memory only (:class:`~sessionbeat.publisher.peers.PeerBoard`): the SessionStart's ``cwd`` gives
repo and branch as for the beats (``HostReaders.repo_info``, a few file reads), and the other
live sessions on that repo, on any host, become one line each (:func:`context_lines`). Nothing
(``b""``) when there is no one else, when the list is missing or too old, or when the hook's
budget is spent (it has stopped waiting).

The lines carry text other sessions published (a task, a tool, a branch): into the model's
context they go without control or format characters, each cut to :data:`LINE_MAX`
characters, at most :data:`MAX_LINES` of them.
"""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from sessionbeat.claude_code.events import HookEvent
from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.models import SessionStatus, utc_now
from sessionbeat.publisher.hook import ANNOUNCE_BUDGET
from sessionbeat.publisher.ipc import HostEvent
from sessionbeat.publisher.peers import REFRESH_INTERVAL, Peer, PeerBoard
from sessionbeat.text import duration

LIVE_ORDER = (
    SessionStatus.NEEDS_APPROVAL,
    SessionStatus.WORKING,
    SessionStatus.WAITING_FOR_INPUT,
    SessionStatus.IDLE,
)
"""The statuses of a session worth naming, in the order they are listed."""
HEADER = "Other Claude Code sessions are working on this repo right now (from sessionbeat):"
"""The first line of the context."""
MAX_LINES = 10
"""Sessions named at most; more are counted on one last line."""
LINE_MAX = 200
"""Characters of one line at most (cut with an ellipsis)."""

_RANK = {status: i for i, status in enumerate(LIVE_ORDER)}
_BUSY = frozenset({SessionStatus.WORKING, SessionStatus.NEEDS_APPROVAL})


def clean(text: str) -> str:
    """Return ``text`` on one line: Unicode control, format and separator characters gone.

    Line and paragraph breaks, tabs and other spacing become one space; every other character
    of category ``C*`` (controls, format characters such as the bidi overrides, private use,
    unassigned) is dropped. Whitespace runs collapse, ends are stripped.
    """
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp"):
            if char.isspace():
                kept.append(" ")
            continue
        kept.append(char)
    return " ".join("".join(kept).split())


def _cut(line: str) -> str:
    return line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…"


def peer_line(peer: Peer, branch: str | None, now: datetime) -> str:
    """Return one session as ``host · repo (branch[, same branch]) · status · doing · started``.

    ``branch`` is the new session's (``same branch`` is said when they match); ``doing`` is the
    tool in use while working or awaiting approval, then the task, each left out when unknown;
    ``started N ago`` from ``started_at`` (left out when unknown). Each part is cleaned
    (:func:`clean`); :func:`context_lines` cuts the line.
    """
    where = clean(peer.repo or "")
    if peer.branch:
        same = ", same branch" if peer.branch == branch else ""
        where += f" ({clean(peer.branch)}{same})"
    parts = [clean(peer.host), where, peer.status.value.replace("_", " ")]
    parts += [
        clean(text)
        for text in (peer.tool if peer.status in _BUSY else None, peer.task)
        if text and clean(text)
    ]
    if peer.started_at is not None:
        parts.append(f"started {duration((now - peer.started_at).total_seconds())} ago")
    return " · ".join(parts)


def context_lines(
    peers: list[Peer], session_id: str, repo: str, branch: str | None, now: datetime
) -> list[str]:
    """Return the context naming the live sessions on ``repo`` other than ``session_id``.

    ``peers`` is every known session (any host); ``repo`` and ``branch`` are the new
    session's. Sessions in :data:`LIVE_ORDER` statuses on the same repo (exact name) count:
    the same branch first, then by status in that order, then the most recently started. The
    result is :data:`HEADER` and one ``- `` line each (:func:`peer_line`, cut to
    :data:`LINE_MAX` characters), at most :data:`MAX_LINES` of them and a last
    ``- … and N more``; ``[]`` when there is no one.
    """
    others = [
        p for p in peers if p.repo == repo and p.session_id != session_id and p.status in _RANK
    ]
    if not others:
        return []
    others.sort(
        key=lambda p: (
            p.branch != branch or branch is None,
            _RANK[p.status],
            -(p.started_at.timestamp() if p.started_at else 0.0),
        )
    )
    lines = [HEADER] + [_cut("- " + peer_line(p, branch, now)) for p in others[:MAX_LINES]]
    if len(others) > MAX_LINES:
        lines.append(f"- … and {len(others) - MAX_LINES} more")
    return lines


def hook_output(lines: list[str]) -> bytes:
    r"""Return Claude Code's SessionStart hook output with ``lines`` as ``additionalContext``.

    ``{"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": ...}}``,
    ASCII-only JSON (other characters as ``\uXXXX`` escapes) and a newline.
    """
    output = {
        "hookSpecificOutput": {
            "hookEventName": HookEvent.SESSION_START.value,
            "additionalContext": "\n".join(lines),
        }
    }
    return json.dumps(output).encode("ascii") + b"\n"


class Announcer:
    """Answers ``SA1`` frames (the IPC server's ``on_announce``) from the agent's memory.

    Takes the board, the host readers' ``repo_info`` (``cwd`` -> ``(repo, branch)``), a
    callable asking for a fresh read of the API (``PeerFetcher.poke``, called when a
    SessionStart finds the list older than :data:`~sessionbeat.publisher.peers.REFRESH_INTERVAL`
    seconds), a clock returning aware UTC datetimes and the hook's budget in seconds.
    """

    def __init__(
        self,
        board: PeerBoard,
        repo_info: Callable[[str], tuple[str | None, str | None]],
        refresh: Callable[[], None],
        clock: Callable[[], datetime] = utc_now,
        budget: float = ANNOUNCE_BUDGET,
    ) -> None:
        self.board = board
        self.repo_info = repo_info
        self.refresh = refresh
        self.clock = clock
        self.budget_ns = int(budget * 1e9)
        self.answered = 0
        """Answers that named at least one session."""

    def _late(self, event: HostEvent) -> bool:
        """Return True once the hook has stopped waiting (its start, ``time_ns``, + the budget)."""
        return time.time_ns() - event.time_ns > self.budget_ns

    def answer(self, event: HostEvent) -> bytes:
        """Return the hook output for a SessionStart ``event`` (:func:`hook_output`), or ``b""``.

        ``b""`` for anything but a SessionStart with a ``cwd`` in a repository, when the list
        is missing or stale, when no other live session is on that repo, and when the hook's
        budget is spent before or after the repository is read.
        """
        if self._late(event):
            return b""
        try:
            hook = HookInput.model_validate_json(event.raw)
        except ValidationError:
            return b""
        if hook.hook_event_name != HookEvent.SESSION_START or not hook.cwd:
            return b""
        now = self.clock()
        age = self.board.age(now)
        stale = age is None or age > REFRESH_INTERVAL
        if stale:
            self.refresh()
        repo, branch = self.repo_info(hook.cwd)
        peers = self.board.peers(now, repo)
        if peers is None and repo and not stale:  # a repo a fleet's read did not cover yet
            self.refresh()
        if not repo or peers is None or self._late(event):
            return b""
        lines = context_lines(peers, hook.session_id, repo, branch, now)
        if not lines:
            return b""
        self.answered += 1
        return hook_output(lines)
