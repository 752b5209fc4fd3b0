"""The host agent's logic without MQTT, sockets or clocks: events and ticks in, beats out.

:class:`AgentCore` owns the live :class:`LocalSession` of every session on this host. Its inputs
are hook events and status-line readings (:meth:`AgentCore.handle`), Claude Code's registry
(:meth:`AgentCore.sync_registry`, called when the registry changes) and the passing of time
(:meth:`AgentCore.tick`: process liveness, heartbeats, a registry scan when asked). Each returns the
:class:`SessionBeat` objects to publish, with ``seq`` incremented and ``sent_at = now``. What it
reads from disk and processes (transcripts, git, the registry, psutil) comes through a
:class:`HostReaders` object, so tests and the agent choose the world.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import ValidationError

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.models import SessionBeat
from sessionbeat.publisher.beat import to_beat
from sessionbeat.publisher.ipc import EventKind, HostEvent
from sessionbeat.publisher.reducers import (
    apply_context,
    apply_hook,
    apply_registry,
    mark_process_exit,
)
from sessionbeat.publisher.session import LocalSession, RegistryReading, new_session
from sessionbeat.publisher.spool import SessionStore
from sessionbeat.topics import is_valid_id

log = logging.getLogger(__name__)

GIT_REFRESH_EVENTS = frozenset({"SessionStart", "UserPromptSubmit", "Stop"})
"""Events after which the branch is read again (a turn may have switched it)."""

DEDUP_WINDOW = 4096
"""Recent delivery ids remembered to drop duplicates (a lost ack, then the inbox)."""


@dataclass(frozen=True, slots=True)
class ContextReading:
    """Context facts from a transcript tail or a status line (tokens; None = unknown).

    ``window_exact`` is True when the window came from Claude Code itself (status line).
    ``session_id`` is set for status-line readings (they name their session).
    """

    context_tokens: int | None = None
    context_window: int | None = None
    window_exact: bool = False
    model: str | None = None
    cwd: str | None = None
    branch: str | None = None
    title: str | None = None
    transcript_path: str | None = None
    session_id: str | None = None


class HostReaders(Protocol):
    """What the agent reads from this host (implemented in ``publisher/readers.py``)."""

    def repo_info(self, cwd: str) -> tuple[str | None, str | None]:
        """Return ``(repo, branch)`` for a working directory (None where unknown)."""
        ...

    def transcript_context(self, path: str, model: str | None) -> ContextReading | None:
        """Return the context reading of a transcript's tail, or None if unreadable.

        Returns promptly (the caller publishes beats and heartbeats): a read that is not done
        in time gives None now and its reading on a later call.
        """
        ...

    def statusline_context(self, raw: bytes) -> ContextReading | None:
        """Parse Claude Code's status-line JSON into a reading (None if it does not parse)."""
        ...

    def registry(self) -> list[RegistryReading]:
        """Return the entries of Claude Code's live-session registry."""
        ...

    def find_process(self, ppid: int, gppid: int) -> tuple[int, float] | None:
        """Return ``(pid, create_time)`` of the Claude Code process above a hook process."""
        ...

    def is_alive(self, pid: int, create_time: float | None) -> bool:
        """Return True if the process still runs (and is the same one: same start time)."""
        ...


@dataclass(slots=True)
class AgentCounters:
    """Counts since the agent started (shown by ``sessionbeat agent status``)."""

    events: int = 0
    statuslines: int = 0
    duplicates: int = 0
    bad_events: Counter[str] = field(default_factory=Counter)
    beats: int = 0
    process_exits: int = 0


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """The agent's thresholds (seconds) and privacy switches, from Settings."""

    heartbeat_interval: float = 30.0
    ended_linger: float = 300.0
    reap_after: float = 1800.0
    include_detail: bool = False
    detail_max_chars: int = 120


def event_time(event: HostEvent) -> datetime:
    """Return the hook's receive time as an aware UTC datetime."""
    return datetime.fromtimestamp(event.time_ns / 1e9, UTC)


class AgentCore:
    """The live sessions of one host and the rules that turn inputs into beats.

    Not thread-safe: the agent calls it from one worker thread. ``store`` (optional) persists
    every session after each change and is read back by :meth:`restore`.
    """

    def __init__(
        self,
        host: str,
        readers: HostReaders,
        config: CoreConfig | None = None,
        store: SessionStore | None = None,
    ) -> None:
        self.host = host
        self.readers = readers
        self.config = config or CoreConfig()
        self.store = store
        self.sessions: dict[str, LocalSession] = {}
        self.last_sent: dict[str, datetime] = {}
        self.counters = AgentCounters()
        self._seen: deque[tuple[int, int]] = deque(maxlen=DEDUP_WINDOW)
        self._seen_set: set[tuple[int, int]] = set()
        self._logged: set[str] = set()

    # -- inputs --------------------------------------------------------------------------

    def restore(self) -> int:
        """Load sessions saved by a previous agent run; returns how many."""
        if self.store is None:
            return 0
        for session in self.store.load_all():
            if session.host == self.host:
                self.sessions[session.session_id] = session
        return len(self.sessions)

    def handle(self, event: HostEvent, now: datetime) -> list[SessionBeat]:
        """Apply one hook event or status-line reading; return the beats to publish."""
        if event.event_id in self._seen_set:
            self.counters.duplicates += 1
            return []
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(event.event_id)
        self._seen_set.add(event.event_id)
        if event.kind is EventKind.STATUSLINE:
            return self._handle_statusline(event, now)
        return self._handle_hook(event, now)

    def _bad(self, reason: str, detail: str) -> list[SessionBeat]:
        self.counters.bad_events[reason] += 1
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning("ignored a hook input (%s): %s", reason, detail)
        return []

    def _handle_hook(self, event: HostEvent, now: datetime) -> list[SessionBeat]:
        self.counters.events += 1
        try:
            hook = HookInput.model_validate_json(event.raw)
        except ValidationError as exc:
            return self._bad("bad_hook_json", str(exc.errors()[0]["msg"]))
        if not is_valid_id(hook.session_id):
            return self._bad("bad_session_id", repr(hook.session_id[:80]))
        previous = self.sessions.get(hook.session_id)
        session = apply_hook(
            previous,
            hook,
            event_time(event),
            self.host,
            include_detail=self.config.include_detail,
            detail_max_chars=self.config.detail_max_chars,
        )
        if session.pid is None and (event.ppid or event.gppid):
            found = self.readers.find_process(event.ppid, event.gppid)
            if found is not None:
                session.pid, session.pid_create_time = found
        refresh_git = previous is None or previous.cwd != session.cwd or not session.repo
        if session.cwd and (refresh_git or hook.hook_event_name in GIT_REFRESH_EVENTS):
            session.repo, session.branch = self.readers.repo_info(session.cwd)
        if session.transcript_path:
            reading = self.readers.transcript_context(session.transcript_path, session.model)
            if reading is not None:
                session = _with_reading(session, reading)
        return [self._emit(session, now)]

    def _handle_statusline(self, event: HostEvent, now: datetime) -> list[SessionBeat]:
        self.counters.statuslines += 1
        reading = self.readers.statusline_context(event.raw)
        if reading is None or not reading.session_id or not is_valid_id(reading.session_id):
            return self._bad("bad_statusline", "no session_id or not JSON")
        previous = self.sessions.get(reading.session_id)
        if previous is None:
            previous = new_session(reading.session_id, self.host, event_time(event))
            previous.transcript_path = reading.transcript_path
        session = _with_reading(previous, reading)
        if session.cwd and not session.repo:
            session.repo, session.branch = self.readers.repo_info(session.cwd)
        if previous.session_id in self.sessions and _same_beat(previous, session):
            return []
        return [self._emit(session, now)]

    # -- time ----------------------------------------------------------------------------

    def tick(self, now: datetime, *, scan_registry: bool = True) -> list[SessionBeat]:
        """Advance to ``now``: registry scan (if asked), dead processes, context, heartbeats.

        Returns the beats to publish: status changes from the registry, ``ended`` with
        ``end_reason: process_exit`` for sessions whose process is gone, sessions only the
        registry knows, sessions whose transcript changed their context since the last hook
        (Claude Code writes a compaction's boundary just after the last hook of ``/compact``;
        a long answer grows the context with no hook), and ``heartbeat: true`` refreshes of
        sessions not sent for ``heartbeat_interval`` seconds. Then forgets old sessions.
        """
        beats: list[SessionBeat] = []
        if scan_registry:
            beats += self.sync_registry(now)
        for sid, session in list(self.sessions.items()):
            if session.ended:
                continue
            if session.pid is not None and not self.readers.is_alive(
                session.pid, session.pid_create_time
            ):
                self.counters.process_exits += 1
                beats.append(self._emit(mark_process_exit(session, now), now))
                continue
            refreshed = self._refreshed_context(session)
            if refreshed is not None:
                beats.append(self._emit(refreshed, now))
                continue
            last = self.last_sent.get(sid)
            if last is None or (now - last).total_seconds() >= self.config.heartbeat_interval:
                if session.pid is None and (
                    (now - session.last_activity_at).total_seconds() >= self.config.reap_after
                ):
                    continue  # nothing proves it lives: let it go stale and be reaped
                beats.append(self._emit(session, now, heartbeat=True))
        self._forget(now)
        return beats

    def _refreshed_context(self, session: LocalSession) -> LocalSession | None:
        """Return the session with its transcript's context read again, if that changed it.

        Only the context (tokens, window, model) is taken: where the session is (cwd, branch)
        is read with the hooks, and the transcript's ``gitBranch`` would otherwise fight git's
        answer on every tick. The readers cache a transcript's reading by size and
        modification time, so an unchanged file costs one ``stat``.
        """
        if not session.transcript_path:
            return None
        reading = self.readers.transcript_context(session.transcript_path, session.model)
        if reading is None:
            return None
        context_only = dataclasses.replace(reading, cwd=None, branch=None, title=None)
        updated = _with_reading(session, context_only)
        return None if _same_beat(session, updated) else updated

    def sync_registry(self, now: datetime) -> list[SessionBeat]:
        """Read Claude Code's registry and apply what changed; return the beats to publish.

        A session only the registry knows is created; one whose entry is gone while its
        process still runs returns to its hooks' status; an entry whose process is dead (or a
        reused pid) is ignored (the liveness check ends the session with ``process_exit``).
        """
        beats = []
        seen: set[str] = set()
        for entry in self.readers.registry():
            if not entry.alive or not is_valid_id(entry.session_id):
                continue
            seen.add(entry.session_id)
            session = self.sessions.get(entry.session_id)
            if session is None:
                started = entry.started_at or now
                session = new_session(entry.session_id, self.host, min(started, now))
                session.cwd = entry.cwd
                if entry.cwd:
                    session.repo, session.branch = self.readers.repo_info(entry.cwd)
            elif session.ended:
                continue
            updated = apply_registry(session, entry, now)
            if entry.session_id in self.last_sent and _same_registry(session, updated):
                continue
            beats.append(self._emit(updated, now))
        for sid, session in list(self.sessions.items()):
            if sid in seen or session.registry_status is None or session.ended:
                continue
            if session.pid is not None and not self.readers.is_alive(
                session.pid, session.pid_create_time
            ):
                continue  # the process died: the liveness check ends it (process_exit)
            beats.append(self._emit(apply_registry(session, None, now), now))
        return beats

    def _forget(self, now: datetime) -> None:
        linger = timedelta(seconds=self.config.ended_linger)
        reap = timedelta(seconds=self.config.reap_after)
        for sid, session in list(self.sessions.items()):
            last = self.last_sent.get(sid, session.last_event_at)
            if (session.ended and now - last >= linger) or (
                session.pid is None and now - max(last, session.last_activity_at) >= reap
            ):
                del self.sessions[sid]
                self.last_sent.pop(sid, None)
                if self.store is not None:
                    self.store.delete(sid)

    # -- output --------------------------------------------------------------------------

    def live_sessions(self) -> list[LocalSession]:
        """Sessions that are not ended, oldest first."""
        return sorted(
            (s for s in self.sessions.values() if not s.ended), key=lambda s: s.started_at
        )

    def republish(self, now: datetime) -> list[SessionBeat]:
        """Return a fresh heartbeat for every live session (after a (re)connect)."""
        return [self._emit(s, now, heartbeat=True) for s in self.live_sessions()]

    def _emit(self, session: LocalSession, now: datetime, heartbeat: bool = False) -> SessionBeat:
        session.seq += 1
        self.sessions[session.session_id] = session
        self.last_sent[session.session_id] = now
        self.counters.beats += 1
        if self.store is not None:
            self.store.save(session)
        return to_beat(session, now, heartbeat=heartbeat)


def _with_reading(session: LocalSession, reading: ContextReading) -> LocalSession:
    updated = apply_context(
        session,
        context_tokens=reading.context_tokens,
        context_window=reading.context_window,
        window_exact=reading.window_exact,
        model=reading.model,
        cwd=reading.cwd,
        branch=reading.branch,
        title=reading.title,
    )
    if reading.transcript_path and not updated.transcript_path:
        updated.transcript_path = reading.transcript_path
    return updated


_REGISTRY_FIELDS = (
    "registry_status",
    "registry_status_at",
    "registry_waiting_for",
    "registry_name",
    "claude_version",
    "entrypoint",
    "tmux",
    "pid",
    "tool",
)


def _same_registry(a: LocalSession, b: LocalSession) -> bool:
    """Return True when a registry reading changed nothing a beat shows."""
    return all(getattr(a, k) == getattr(b, k) for k in _REGISTRY_FIELDS)


def _same_beat(a: LocalSession, b: LocalSession) -> bool:
    keys = ("context_tokens", "context_window", "model", "title", "cwd", "repo", "branch")
    return all(getattr(a, k) == getattr(b, k) for k in keys)
