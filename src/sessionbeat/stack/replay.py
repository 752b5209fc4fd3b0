"""Real recorded Claude Code hook sessions, grouped for replay (``sessionbeat demo``, tests).

The payloads are the real hook inputs in ``recordings/`` beside this module (see its README for
their sources). Files of one ``session_id`` are listed in a natural lifecycle order (start,
prompt, tools, approval, stop, end); each session is assigned to one of three demo hosts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path

RECORDINGS = Path(__file__).with_name("recordings")
"""The recorded hook and status-line inputs (package data; sources in its README.md)."""


@dataclass(frozen=True, slots=True)
class ReplaySession:
    """One recorded session: the demo host it plays on and its hook files, in order."""

    host: str
    files: tuple[str, ...]


SESSIONS: tuple[ReplaySession, ...] = (
    # cka-buddy, Claude Code 2.1.62 on a Mac: the longest real sequence (same session as
    # transcript-1): start, prompt, a Read, an Explore subagent, a background Task, an
    # AskUserQuestion approval, a failed Read, end of turn, idle prompt, exit.
    ReplaySession(
        "macbook",
        (
            "hook-SessionStart-1.json",
            "hook-UserPromptSubmit-1.json",
            "hook-PreToolUse-1.json",
            "hook-PostToolUse-3.json",
            "hook-SubagentStart-1.json",
            "hook-PostToolUse-1.json",
            "hook-PostToolUse-2.json",
            "hook-SubagentStop-1.json",
            "hook-PreToolUse-2.json",
            "hook-PermissionRequest-2.json",
            "hook-Notification-2.json",
            "hook-PostToolUseFailure-1.json",
            "hook-Stop-1.json",
            "hook-Notification-1.json",
            "hook-SessionEnd-1.json",
        ),
    ),
    # cka-buddy: a plan-mode prompt, a Bash approval, then /clear (ends this session) ...
    ReplaySession(
        "macbook",
        (
            "hook-UserPromptSubmit-2.json",
            "hook-PermissionRequest-1.json",
            "hook-SessionEnd-2.json",
        ),
    ),
    # ... and the session /clear starts.
    ReplaySession("macbook", ("hook-SessionStart-2.json",)),
    ReplaySession("macbook", ("hook-SubagentStop-2.json",)),
    ReplaySession("macbook", ("hook-SubagentStop-3.json",)),
    # fastapi-mqtt-gateway, Claude Code 2.1.212 behind a gateway: prompt, Bash, Stop.
    ReplaySession(
        "kai-server",
        (
            "hook-UserPromptSubmit-3.json",
            "hook-PreToolUse-3.json",
            "hook-PostToolUse-4.json",
            "hook-Stop-2.json",
        ),
    ),
    # blackcore, Claude Code 1.0.48 (no cwd): a TodoWrite list, then a foreground Task.
    ReplaySession("kai-server", ("hook-PreToolUse-4.json", "hook-PreToolUse-5.json")),
    # blackcore 1.0.48: end of turn, then the old-style idle notification.
    ReplaySession("kai-server", ("hook-Stop-3.json", "hook-Notification-3.json")),
    ReplaySession("kai-server", ("hook-SubagentStop-4.json",)),
    # livestream-copilot on Windows: a manual /compact, then an auto compaction.
    ReplaySession("winbox", ("hook-PreCompact-2.json", "hook-PreCompact-1.json")),
)
"""Every real hook fixture, each in exactly one session."""

STATUSLINES: tuple[tuple[str, str], ...] = (
    ("kai-server", "statusline-2.json"),  # voter-api, Opus 4.6, 23 % of 200k
    ("macbook", "statusline-4.json"),  # alpha, Opus 5, 32 % of 1M, session name
)
"""Real status-line inputs (with context data) and the demo host each is replayed on."""


def load_payload(name: str, directory: Path | None = None) -> bytes:
    """Return a fixture as compact one-line JSON bytes, the way Claude Code writes stdin."""
    path = (directory or RECORDINGS) / name
    data = json.loads(path.read_text(encoding="utf-8"))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def session_ids() -> set[str]:
    """Return the ids of every session the demo shows: hook sessions and status-line ones.

    Several replay groups can share one session id, and the status-line inputs name sessions
    of their own, so this is what ``demo`` must count, not the groups.
    """
    names = [f for s in SESSIONS for f in s.files] + [name for _host, name in STATUSLINES]
    return {json.loads(load_payload(name))["session_id"] for name in names}


def renamed(payload: bytes, ids: MutableMapping[str, str] | None) -> bytes:
    """Return ``payload`` with its ``session_id`` replaced by a fresh one from ``ids``.

    ``ids`` maps recorded ids to fresh ones; an id not in it yet gets a new random UUID, so
    one mapping per replay round gives every round its own sessions (an ended session's
    timeline does not start again) while the events of one session stay together. ``ids``
    None keeps the payload as recorded (the first round).
    """
    if ids is None:
        return payload
    data = json.loads(payload)
    old = data.get("session_id")
    if isinstance(old, str):
        data["session_id"] = ids.setdefault(old, str(uuid.uuid4()))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def interleaved(
    sessions: tuple[ReplaySession, ...] = SESSIONS,
) -> Iterator[tuple[ReplaySession, bytes]]:
    """Yield ``(session, payload)`` round-robin across sessions, each session in its order."""
    cursors = [0] * len(sessions)
    while any(c < len(s.files) for c, s in zip(cursors, sessions, strict=True)):
        for i, session in enumerate(sessions):
            if cursors[i] < len(session.files):
                yield session, load_payload(session.files[cursors[i]])
                cursors[i] += 1
