"""The notifier's pure core: which episodes open, when they fall due, what gets withdrawn.

No clock, no I/O: :class:`Rules` takes the aggregator's views (``SessionView``, ``HostView``,
removals) with a ``now`` (aware UTC, the aggregator's clock) and returns :data:`Action` values
that :mod:`sessionbeat.notifier.service` carries out (write the ledger, deliver, withdraw).

An **episode** is one stretch of a condition worth one message: a session waiting for approval
(from the change to ``needs_approval`` until any other status but ``stale``/``offline``/
``unknown``), a host offline (its Last Will until it is back), a session stuck, a turn that
finished after long work (one-shot). An episode falls due ``grace`` seconds after its condition
began (``status_since``, the aggregator's receive time), later if the session had a message less
than ``session_interval`` ago or quiet hours hold. Episodes of one kind falling due within
``batch_window`` seconds of each other go out as one :class:`Send` (a *batch*; its id is the
ntfy sequence id). When every episode of a sent batch has closed, a :class:`Withdraw` follows.

Across a restart, the sent-and-open episodes come back from the ledger (:class:`StoredEpisode`).
An episode seen again with the same ``marker`` (needs approval: the tool and its detail; host
offline: when it went offline; stuck: the last activity) is the same episode and is not sent
again; a different marker means the stored one was answered while the aggregator was away.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sessionbeat.models import HostState, HostView, NotifyKind, SessionStatus, SessionView
from sessionbeat.notifier.policy import Policy

EpisodeKey = tuple[NotifyKind, str, str | None]
"""(kind, host, session_id): at most one open episode each (session_id None for a host)."""

ONE_SHOT = frozenset({NotifyKind.TURN_FINISHED})
"""Kinds whose episode ends when it is sent: nothing to withdraw."""

ANSWERED = frozenset(
    {
        SessionStatus.WORKING,
        SessionStatus.WAITING_FOR_INPUT,
        SessionStatus.IDLE,
        SessionStatus.ENDED,
    }
)
"""Statuses that end an approval episode: someone answered it (or the session ended)."""

BUSY = frozenset({SessionStatus.WORKING, SessionStatus.NEEDS_APPROVAL})
"""Statuses inside a turn (a turn that ends after long work may be announced)."""

TURN_OVER = frozenset({SessionStatus.WAITING_FOR_INPUT, SessionStatus.IDLE, SessionStatus.ENDED})
"""Statuses that end a turn."""


class EpisodeState(StrEnum):
    """Where an episode is: waiting to fall due, sent, or kept silent by a filter."""

    PENDING = "pending"
    SENT = "sent"
    FILTERED = "filtered"


@dataclass(frozen=True)
class Facts:
    """What a message says about one episode (the view's fields at the last observation).

    ``worked_seconds`` is set for a finished turn, ``sessions`` for a host gone offline (its
    live sessions).
    """

    host: str
    session_id: str | None = None
    repo: str | None = None
    branch: str | None = None
    cwd: str | None = None
    task: str | None = None
    tool: str | None = None
    detail: str | None = None
    waiting_for: str | None = None
    worked_seconds: float | None = None
    sessions: int | None = None


@dataclass
class Episode:
    """One episode: its key, identity marker, times (aware UTC) and state."""

    kind: NotifyKind
    host: str
    session_id: str | None
    marker: str
    opened_at: datetime
    due_at: datetime
    facts: Facts
    state: EpisodeState = EpisodeState.PENDING
    batch_id: str | None = None

    @property
    def key(self) -> EpisodeKey:
        """Return ``(kind, host, session_id)``."""
        return (self.kind, self.host, self.session_id)


@dataclass(frozen=True)
class StoredEpisode:
    """A sent episode not yet closed, as the ledger kept it (for a restart)."""

    kind: NotifyKind
    host: str
    session_id: str | None
    marker: str
    batch_id: str
    opened_at: datetime


@dataclass(frozen=True)
class Send:
    """Deliver one message about ``episodes`` (one kind; several make a batch)."""

    batch_id: str
    kind: NotifyKind
    episodes: tuple[Episode, ...]


@dataclass(frozen=True)
class Closed:
    """Sent episodes that ended (the ledger marks them closed)."""

    episodes: tuple[Episode | StoredEpisode, ...]


@dataclass(frozen=True)
class Withdraw:
    """Every episode of batch ``batch_id`` ended: delete its message where the service can.

    ``followup`` is True when the policy asks for an "answered" message where it cannot.
    """

    batch_id: str
    kind: NotifyKind
    episodes: tuple[Episode | StoredEpisode, ...]
    followup: bool


@dataclass(frozen=True)
class Filtered:
    """An episode the host/repo filters kept silent (counted, never sent)."""

    kind: NotifyKind


Action = Send | Closed | Withdraw | Filtered
"""What :class:`Rules` asks the service to do."""


def batch_id_for(kind: NotifyKind, episodes: Iterable[Episode]) -> str:
    """Return a stable id for a batch: ``sb-`` and 20 hex digits of its episodes' identity.

    Used as the ntfy sequence id, so it is made of ``[-_A-Za-z0-9]`` only.
    """
    digest = hashlib.sha256(kind.encode())
    for ep in episodes:
        digest.update(f"|{ep.host}|{ep.session_id}|{ep.marker}|{ep.opened_at.isoformat()}".encode())
    return f"sb-{digest.hexdigest()[:20]}"


def _marker(view: SessionView) -> str:
    """Return an approval's identity: its tool and detail."""
    return f"{view.tool or ''}|{view.detail or ''}"


def _facts(view: SessionView, **extra: float | None) -> Facts:
    return Facts(
        host=view.host,
        session_id=view.session_id,
        repo=view.repo,
        branch=view.branch,
        cwd=view.cwd,
        task=view.task,
        tool=view.tool,
        detail=view.detail,
        waiting_for=view.waiting_for,
        **extra,  # type: ignore[arg-type]
    )


def _quiet_seconds(view: SessionView) -> float | None:
    """Seconds the session showed no sign of life: no hook and no registry change."""
    idle = view.idle_seconds
    if idle is None:
        return None
    if view.registry_status_at is not None:
        since_registry = max(0.0, (view.sent_at - view.registry_status_at).total_seconds())
        idle = min(idle, since_registry + view.last_seen_seconds)
    return idle


@dataclass
class Rules:
    """The episodes the notifier tracks and the decisions about them (see module docstring).

    ``stored`` are the ledger's sent-and-open episodes at start; those not seen again are closed
    by :meth:`reconcile`.
    """

    policy: Policy
    stored: dict[EpisodeKey, StoredEpisode] = field(default_factory=dict)
    episodes: dict[EpisodeKey, Episode] = field(default_factory=dict)
    batches: dict[str, set[EpisodeKey]] = field(default_factory=dict)
    last_sent: dict[tuple[str, str | None], datetime] = field(default_factory=dict)
    working_since: dict[tuple[str, str], datetime] = field(default_factory=dict)

    @classmethod
    def restored(cls, policy: Policy, stored: Iterable[StoredEpisode]) -> Rules:
        """Return rules that know the ledger's sent-and-open episodes ``stored``."""
        return cls(policy, stored={(s.kind, s.host, s.session_id): s for s in stored})

    # -- observations --------------------------------------------------------------------

    def observe_session(self, view: SessionView, now: datetime) -> list[Action]:
        """Take the current view of a session; return what follows from it."""
        out: list[Action] = []
        status = view.status
        key: EpisodeKey = (NotifyKind.NEEDS_APPROVAL, view.host, view.session_id)
        if status is SessionStatus.NEEDS_APPROVAL and self.policy.needs_approval:
            out += self._approval(view, key, now)
        elif status in ANSWERED or status is SessionStatus.NEEDS_APPROVAL:
            out += self._close(key)
        if self.policy.turn_finished_after is not None:
            out += self._turn(view, now)
        stuck: EpisodeKey = (NotifyKind.STUCK, view.host, view.session_id)
        if stuck in self.episodes or stuck in self.stored:
            quiet = _quiet_seconds(view)
            limit = self.policy.stuck_after
            if status is not SessionStatus.WORKING or quiet is None or (limit and quiet < limit):
                out += self._close(stuck)
        return out

    def observe_removed(self, host: str, session_id: str) -> list[Action]:
        """Close what a session that left the live state had open (ended, expired, cleared)."""
        self.working_since.pop((host, session_id), None)
        out: list[Action] = []
        for kind in (NotifyKind.NEEDS_APPROVAL, NotifyKind.STUCK):
            out += self._close((kind, host, session_id))
        return out

    def observe_host(self, view: HostView, now: datetime) -> list[Action]:
        """Take the current view of a host: offline opens an episode, online closes it."""
        key: EpisodeKey = (NotifyKind.HOST_OFFLINE, view.host, None)
        if view.state is HostState.ONLINE:
            return self._close(key)
        if view.state is not HostState.OFFLINE or not self.policy.host_offline:
            return []
        if key in self.episodes:
            return []
        since = view.since or now
        marker = since.isoformat()
        facts = Facts(host=view.host, sessions=view.sessions)
        return self._open(key, marker, since, self.policy.offline_grace, facts, repo=None)

    def scan(self, views: Iterable[SessionView], now: datetime) -> list[Action]:
        """Look for stuck sessions among ``views`` (call every few seconds when that kind is on)."""
        limit = self.policy.stuck_after
        if limit is None:
            return []
        out: list[Action] = []
        for view in views:
            quiet = _quiet_seconds(view)
            if view.status is not SessionStatus.WORKING or quiet is None or quiet < limit:
                continue
            key: EpisodeKey = (NotifyKind.STUCK, view.host, view.session_id)
            if key in self.episodes:
                continue
            began = now - timedelta(seconds=quiet)
            marker = (view.last_activity_at or began).isoformat()
            out += self._open(key, marker, began, limit, _facts(view), repo=view.repo)
        return out

    def reconcile(self) -> list[Action]:
        """Close the stored episodes not seen again since the start (answered while away)."""
        out: list[Action] = []
        for key in list(self.stored):
            out += self._close(key)
        return out

    # -- time ----------------------------------------------------------------------------

    def _effective_due(self, ep: Episode) -> datetime:
        due = ep.due_at
        last = self.last_sent.get((ep.host, ep.session_id))
        if last is not None and ep.session_id is not None:
            due = max(due, last + timedelta(seconds=self.policy.session_interval))
        return due

    def next_due(self, now: datetime) -> datetime | None:
        """Return when :meth:`due` next has something to send (None: nothing pending)."""
        dues = [
            self._effective_due(ep)
            for ep in self.episodes.values()
            if ep.state is EpisodeState.PENDING
        ]
        if not dues:
            return None
        first = min(dues)
        quiet_end = self.policy.quiet_until(max(first, now))
        return quiet_end if quiet_end is not None else first

    def pending(self) -> int:
        """Return the number of episodes waiting to fall due."""
        return sum(1 for ep in self.episodes.values() if ep.state is EpisodeState.PENDING)

    def due(self, now: datetime) -> list[Send]:
        """Return the messages due at ``now``: one per kind, batching what falls due together.

        Nothing is due inside quiet hours; what fell due meanwhile goes out when they end.
        """
        if self.policy.quiet_until(now) is not None:
            return []
        pending = [ep for ep in self.episodes.values() if ep.state is EpisodeState.PENDING]
        ready_kinds = {ep.kind for ep in pending if self._effective_due(ep) <= now}
        horizon = now + timedelta(seconds=self.policy.batch_window)
        sends: list[Send] = []
        for kind in sorted(ready_kinds):
            group = sorted(
                (ep for ep in pending if ep.kind is kind and self._effective_due(ep) <= horizon),
                key=lambda ep: ep.opened_at,
            )
            batch_id = batch_id_for(kind, group)
            for ep in group:
                ep.state = EpisodeState.SENT
                ep.batch_id = batch_id
                self.last_sent[(ep.host, ep.session_id)] = now
                if kind in ONE_SHOT:
                    del self.episodes[ep.key]
            if kind not in ONE_SHOT:
                self.batches[batch_id] = {ep.key for ep in group}
            sends.append(Send(batch_id, kind, tuple(group)))
        return sends

    # -- helpers -------------------------------------------------------------------------

    def _approval(self, view: SessionView, key: EpisodeKey, now: datetime) -> list[Action]:
        marker = _marker(view)
        ep = self.episodes.get(key)
        if ep is not None:
            old_tool = ep.marker.split("|", 1)[0]
            if old_tool and view.tool and marker != ep.marker:
                # Another approval followed without a status in between that we saw.
                out = self._close(key)
                return out + self._open_approval(view, key, marker, now)
            ep.facts = _facts(view)
            if not old_tool and view.tool:
                ep.marker = marker
            return []
        return self._open_approval(view, key, marker, now)

    def _open_approval(
        self, view: SessionView, key: EpisodeKey, marker: str, now: datetime
    ) -> list[Action]:
        return self._open(
            key, marker, view.status_since, self.policy.grace, _facts(view), view.repo
        )

    def _open(
        self,
        key: EpisodeKey,
        marker: str,
        began: datetime,
        grace: float,
        facts: Facts,
        repo: str | None,
    ) -> list[Action]:
        """Open an episode for ``key`` (or adopt the stored one with the same marker)."""
        out: list[Action] = []
        stored = self.stored.get(key)
        if stored is not None:
            if stored.marker == marker:
                del self.stored[key]
                self.episodes[key] = Episode(
                    key[0],
                    key[1],
                    key[2],
                    marker,
                    stored.opened_at,
                    stored.opened_at,
                    facts,
                    EpisodeState.SENT,
                    stored.batch_id,
                )
                self.batches.setdefault(stored.batch_id, set()).add(key)
                return out
            out += self._close(key)
        kind, host, session_id = key
        ep = Episode(kind, host, session_id, marker, began, began + timedelta(seconds=grace), facts)
        if not self.policy.allows(host, repo):
            ep.state = EpisodeState.FILTERED
            out.append(Filtered(kind))
        self.episodes[key] = ep
        return out

    def _close(self, key: EpisodeKey) -> list[Action]:
        """End the episode at ``key`` (in memory or stored); a fully answered batch withdraws."""
        stored = self.stored.pop(key, None)
        if stored is not None:
            batch = stored.batch_id
            if self.batches.get(batch) or any(s.batch_id == batch for s in self.stored.values()):
                return [Closed((stored,))]
            return [
                Closed((stored,)),
                Withdraw(batch, stored.kind, (stored,), self.policy.answered_followup),
            ]
        ep = self.episodes.pop(key, None)
        if ep is None or ep.state is not EpisodeState.SENT or ep.batch_id is None:
            return []
        out: list[Action] = [Closed((ep,))]
        members = self.batches.get(ep.batch_id)
        if members is not None:
            members.discard(key)
            if not members and not any(s.batch_id == ep.batch_id for s in self.stored.values()):
                del self.batches[ep.batch_id]
                out.append(Withdraw(ep.batch_id, ep.kind, (ep,), self.policy.answered_followup))
        return out

    def _turn(self, view: SessionView, now: datetime) -> list[Action]:
        """Track turns; a turn that ended after ``turn_finished_after`` opens a one-shot."""
        skey = (view.host, view.session_id)
        if view.status in BUSY:
            self.working_since.setdefault(skey, view.status_since)
            return []
        if view.status not in TURN_OVER:
            return []
        began = self.working_since.pop(skey, None)
        limit = self.policy.turn_finished_after
        if began is None or limit is None:
            return []
        worked = (view.status_since - began).total_seconds()
        if worked < limit:
            return []
        key: EpisodeKey = (NotifyKind.TURN_FINISHED, view.host, view.session_id)
        facts = replace(_facts(view), worked_seconds=worked)
        self.episodes.pop(key, None)
        return self._open(
            key, view.status_since.isoformat(), view.status_since, 0.0, facts, view.repo
        )
