"""Indices over the aggregator state, kept up to date by the pure core (no clock, no I/O).

:class:`StateIndex` is held by :class:`~sessionbeat.aggregator.records.AggregatorState` and
updated by :func:`~sessionbeat.aggregator.state.apply` and
:func:`~sessionbeat.aggregator.state.expire` whenever a session is added, changed or removed,
so that the work per message and per read is proportional to what it touches, not to the fleet
(docs/architecture.md, "Scale"):

* sessions by host and by session id (a host's status message costs O(its sessions));
* the ``GET /sessions`` order, a ``sortedcontainers.SortedList`` of :data:`OrderKey`
  (needs-approval first, then newest ``sent_at``, host, session id): a page of 100 costs
  O(log n + 100);
* counts by stored effective status, per-host visible/approval counts, the running subagents
  and the context percentages in a lazy max-heap (the summary's top two);
* a heap of due times: when each session's derived status (idle, stale) may change or it may be
  reaped. ``expire`` pops only what is due. Entries are invalidated lazily with a generation per
  session; a later beat that pushes the due time further keeps the old entry, which then fires
  early, finds nothing changed and is rescheduled, so the heap holds about one entry per session.

Everything counted here is the session's *stored* effective status (``record.effective``, as of
its last evaluation). A reader at a later ``now`` corrects the few sessions whose due time has
passed since (:meth:`StateIndex.peek_due`); the others cannot have changed.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sortedcontainers import SortedList

from sessionbeat.models import STATUS_ORDER, SessionStatus

if TYPE_CHECKING:
    from sessionbeat.aggregator.records import SessionRecord

SessionKey = tuple[str, str]
"""``(host, session_id)`` (the same alias as :data:`sessionbeat.aggregator.records.SessionKey`)."""

OrderKey = tuple[int, float, str, str]
"""A session's place in ``GET /sessions``: (status rank, minus ``sent_at`` in Unix s, host, id)."""


ALWAYS_DUE = datetime.min.replace(tzinfo=UTC)
"""A due time before any other: re-evaluate at the next ``expire``."""

RANK: dict[SessionStatus, int] = {status: i for i, status in enumerate(STATUS_ORDER)}
"""The rank of each status in :data:`STATUS_ORDER` (the first part of an :data:`OrderKey`)."""

HIDDEN_BY_DEFAULT = frozenset({SessionStatus.STALE, SessionStatus.ENDED})
"""Statuses ``GET /sessions`` leaves out unless ``all=true``."""


def context_pct(tokens: int | None, window: int | None) -> float | None:
    """Return ``100 * tokens / window`` rounded to 0.1, or None when either is unknown/zero."""
    if tokens is None or not window:
        return None
    return round(100.0 * tokens / window, 1)


def order_key(status: SessionStatus, sent_at: datetime, host: str, session_id: str) -> OrderKey:
    """Return the :data:`OrderKey` of a session with effective ``status`` and beat ``sent_at``."""
    return (RANK[status], -sent_at.timestamp(), host, session_id)


def shows_context(status: SessionStatus) -> bool:
    """Return True when a session in ``status`` counts in the summary's ``top_context_pct``."""
    return status not in HIDDEN_BY_DEFAULT and status is not SessionStatus.OFFLINE


@dataclass(slots=True)
class Entry:
    """What the index counted for one session: its order key, status and summary parts.

    ``due`` and ``gen`` are its live heap entry (None: none scheduled); ``pct`` its context
    percentage (0-100 or None) and ``pct_gen`` its live entry in the top-context heap (0: none).
    """

    order: OrderKey
    status: SessionStatus
    repo: str | None
    subagents: int
    pct: float | None
    due: datetime | None = None
    gen: int = 0
    pct_gen: int = 0


class StateIndex:
    """The indices of one :class:`~sessionbeat.aggregator.records.AggregatorState`.

    ``version`` is bumped by every accepted change to the state (the overview cache's key).
    ``sessionless`` holds the hosts known without any live session (the only ones the host
    reaper looks at).
    """

    def __init__(self) -> None:
        self.version = 0
        self.entries: dict[SessionKey, Entry] = {}
        self.by_host: dict[str, set[str]] = {}
        self.by_id: dict[str, str | set[str]] = {}
        """Session id -> its host, or the set of hosts when ids collide (rare: a set per id
        would cost ~200 bytes and a GC-tracked object per session)."""
        self.by_repo: dict[str | None, set[SessionKey]] = {}
        self.order: SortedList = SortedList()
        self.status_counts: Counter[SessionStatus] = Counter()
        self.host_visible: Counter[str] = Counter()
        self.host_approvals: Counter[str] = Counter()
        self.subagents = 0
        self.pct_heap: list[tuple[float, int, SessionKey]] = []
        self.heap: list[tuple[datetime, int, SessionKey]] = []
        self.sessionless: set[str] = set()
        self._gen = 0

    def __len__(self) -> int:
        return len(self.entries)

    # -- updates (the core calls these) -------------------------------------------------------

    def _count(self, key: SessionKey, entry: Entry, sign: int) -> None:
        status = entry.status
        self.status_counts[status] += sign
        host = key[0]
        if status is SessionStatus.NEEDS_APPROVAL:
            self._bump(self.host_approvals, host, sign)
        if status not in HIDDEN_BY_DEFAULT:
            self._bump(self.host_visible, host, sign)
            self.subagents += sign * entry.subagents
        self._place_pct(key, entry, sign > 0)

    def _place_pct(self, key: SessionKey, entry: Entry, present: bool) -> None:
        """Put ``entry``'s context percentage in the top-context heap (``present``) or out of it.

        A lazy max-heap: an entry is live while its generation is the session's ``pct_gen``;
        the old one of a session whose percentage moved stays behind, dead, until the heap
        holds twice the live sessions and is rebuilt (amortised O(1); a push is O(log n) in C,
        against two ``SortedList`` operations per beat before).
        """
        entry.pct_gen = 0
        if not present or entry.pct is None or not shows_context(entry.status):
            return
        self._gen += 1
        entry.pct_gen = self._gen
        heap = self.pct_heap
        heapq.heappush(heap, (-entry.pct, self._gen, key))
        if len(heap) > 2 * len(self.entries) + 64:
            live = [
                (-e.pct, e.pct_gen, k)
                for k, e in self.entries.items()
                if e.pct_gen and e.pct is not None
            ]
            heapq.heapify(live)
            self.pct_heap = live

    def top_pcts(self, k: int, exclude: Container[SessionKey]) -> list[float]:
        """Return the ``k`` highest live context percentages (0-100), highest first.

        Sessions in ``exclude`` are skipped (the caller counts those itself). Walks the heap
        best-first from its root, so it costs O(k + dead entries above them) x log.
        """
        heap, entries = self.pct_heap, self.entries
        out: list[float] = []
        frontier: list[tuple[tuple[float, int, SessionKey], int]] = [(heap[0], 0)] if heap else []
        while frontier and len(out) < k:
            (negpct, gen, key), i = heapq.heappop(frontier)
            entry = entries.get(key)
            if entry is not None and entry.pct_gen == gen and key not in exclude:
                out.append(-negpct)
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(heap):
                    heapq.heappush(frontier, (heap[child], child))
        return out

    @staticmethod
    def _bump(counter: Counter[str], host: str, sign: int) -> None:
        n = counter[host] + sign
        if n:
            counter[host] = n
        else:
            del counter[host]

    def update(self, key: SessionKey, record: SessionRecord) -> None:
        """Index ``record`` (new or changed) under ``key`` with its stored effective status."""
        beat = record.beat
        status = record.effective
        order = (RANK[status], -beat.sent_at.timestamp(), key[0], key[1])
        repo = beat.repo
        subagents = beat.subagents
        tokens, window = beat.context_tokens, beat.context_window
        pct = None if tokens is None or not window else round(100.0 * tokens / window, 1)
        old = self.entries.get(key)
        if old is None:
            entry = Entry(order, status, repo, subagents, pct)
            self.entries[key] = entry
            host, sid = key
            hosted = self.by_host.get(host)
            if hosted is None:
                self.by_host[host] = {sid}
                self.sessionless.discard(host)
            else:
                hosted.add(sid)
            known = self.by_id.get(sid)
            if known is None:
                self.by_id[sid] = host
            elif isinstance(known, str):
                if known != host:
                    self.by_id[sid] = {known, host}
            else:
                known.add(host)
            self.by_repo.setdefault(repo, set()).add(key)
            self.order.add(order)
            self._count(key, entry, 1)
            return
        if old.order != order:
            self.order.remove(old.order)
            self.order.add(order)
            old.order = order
        if old.repo != repo:
            self._discard_repo(key, old.repo)
            self.by_repo.setdefault(repo, set()).add(key)
            old.repo = repo
        if old.status is not status or old.subagents != subagents:
            self._count(key, old, -1)
            old.status, old.subagents, old.pct = status, subagents, pct
            self._count(key, old, 1)
        elif old.pct != pct:  # the context moved (most beats of a working session)
            old.pct = pct
            self._place_pct(key, old, True)

    def _discard_repo(self, key: SessionKey, repo: str | None) -> None:
        keys = self.by_repo.get(repo)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_repo[repo]

    def remove(self, key: SessionKey) -> None:
        """Forget the session ``key`` (removed or reaped); its heap entry becomes invalid."""
        entry = self.entries.pop(key, None)
        if entry is None:
            return
        host, sid = key
        self.order.remove(entry.order)
        self._count(key, entry, -1)
        self._discard_repo(key, entry.repo)
        hosted = self.by_host.get(host)
        if hosted is not None:
            hosted.discard(sid)
            if not hosted:
                del self.by_host[host]
                self.sessionless.add(host)
        known = self.by_id.get(sid)
        if known == host:
            del self.by_id[sid]
        elif isinstance(known, set):
            known.discard(host)
            if len(known) == 1:
                self.by_id[sid] = next(iter(known))

    def hosts_of(self, sid: str) -> tuple[str, ...]:
        """Return the hosts with a live session ``sid`` (usually one)."""
        known = self.by_id.get(sid)
        if known is None:
            return ()
        return (known,) if isinstance(known, str) else tuple(known)

    def host_known(self, host: str) -> None:
        """Note a host record that exists: sessionless until a session of it is indexed."""
        if host not in self.by_host:
            self.sessionless.add(host)

    def host_forgotten(self, host: str) -> None:
        """Note that a host record was deleted from the state."""
        self.sessionless.discard(host)

    def schedule(self, key: SessionKey, due: datetime) -> None:
        """Ask for ``key`` to be re-evaluated at ``due`` (or earlier: an earlier entry stays)."""
        entry = self.entries.get(key)
        if entry is None or (entry.due is not None and entry.due <= due):
            return
        self._gen += 1
        entry.due = due
        entry.gen = self._gen
        heapq.heappush(self.heap, (due, self._gen, key))

    def touch(self, key: SessionKey) -> None:
        """Ask for ``key`` to be re-evaluated by the next ``expire``, whatever its due time."""
        self.schedule(key, ALWAYS_DUE)

    def pop_due(self, now: datetime) -> list[SessionKey]:
        """Take the sessions due at ``now`` off the heap (each once), soonest first."""
        heap = self.heap
        out: list[SessionKey] = []
        while heap and heap[0][0] <= now:
            _due, gen, key = heapq.heappop(heap)
            entry = self.entries.get(key)
            if entry is not None and entry.gen == gen:
                entry.due = None
                out.append(key)
        return out

    def peek_due(self, now: datetime) -> list[SessionKey]:
        """Return the sessions due at ``now`` without taking them off the heap.

        Walks only the part of the heap at or before ``now`` (a heap's children are never
        due before their parent), so it costs O(what is due).
        """
        heap = self.heap
        out: list[SessionKey] = []
        stack = [0] if heap else []
        while stack:
            i = stack.pop()
            due, gen, key = heap[i]
            if due > now:
                continue
            entry = self.entries.get(key)
            if entry is not None and entry.gen == gen:
                out.append(key)
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(heap):
                    stack.append(child)
        return out
