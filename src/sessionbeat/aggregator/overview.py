"""``GET /overview``: built from the indices, folded, serialised once per change and cached.

:func:`build_overview` is pure (call it under the service's lock): the summary, every session
that needs a person (``needs_approval``; "stuck" is not included: the notifier's stuck rule
needs each working session's quiet time, a walk of every working session), the first page of
the other sessions, and only the hosts that need a look, with counts of all hosts.

:class:`OverviewCache` keeps the serialised bytes (pydantic-core, no intermediate dict) per
``limit`` with the state's ``version`` and build time, so N readers cost one build per change
(docs/api.md, "Overview cache"): the bytes are served while the version is unchanged and they
are younger than ``max_age`` (1 s: durations in them advance with time); when the version moved
they are still served until ``min_interval`` (0.5 s) after their build, so a fleet that changes
every millisecond costs at most two builds a second per ``limit``. When a build is slow (over
``background_after``, 20 ms: a fleet of tens of thousands of sessions), the bytes past those
bounds are still served, at most ``stale_limit`` (2 s) old, while one background thread builds
the next: no reader waits for a build then, only the first one and one after a quiet spell.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sessionbeat.aggregator import paging, sites, views
from sessionbeat.aggregator.records import AggregatorState
from sessionbeat.models import HostState, Overview, SessionStatus

OVERVIEW_LIMIT = 50
"""Sessions in the overview's first page (besides those needing approval) by default."""

MAX_LIMITS_CACHED = 8
"""Distinct ``limit`` values whose bytes are kept at once."""

UNKNOWN_STATE = "unknown"
"""The ``hosts_by_state`` key of hosts known only from their sessions (no status message yet)."""


def build_overview(
    state: AggregatorState, now: datetime, broker_connected: bool, limit: int = OVERVIEW_LIMIT
) -> Overview:
    """Return the :class:`~sessionbeat.models.Overview` of ``state`` at ``now``.

    Costs O(log n + limit + sessions needing approval + hosts), not O(sessions).
    """
    moved = paging.moved_statuses(state, now)
    summary = views.summarize(state, now, broker_connected, moved)
    attention, _ = views.sessions_page(
        state, now, views.SessionFilter(status=SessionStatus.NEEDS_APPROVAL)
    )
    rest, page = views.sessions_page(
        state, now, views.SessionFilter(all=True), after=paging.AFTER_APPROVALS, limit=limit
    )
    index = state.index
    by_state: Counter[str] = Counter()
    look: set[str] = set(index.host_approvals)
    look.update(key[0] for key, status in moved.items() if status is SessionStatus.NEEDS_APPROVAL)
    for name, rec in state.hosts.items():
        shown = sites.host_state(rec)  # unreachable while its site's bridge is down
        by_state[shown.value if shown is not None else UNKNOWN_STATE] += 1
        if shown is not HostState.ONLINE:
            look.add(name)
    for name in index.by_host.keys() - state.hosts.keys():  # none while the core keeps both
        by_state[UNKNOWN_STATE] += 1
        look.add(name)
    hosts = [
        h
        for h in views.host_views(state, now, sorted(look), moved)
        if h.state is not HostState.ONLINE or h.needs_approval
    ]
    return Overview(
        now=now,
        summary=summary,
        attention=attention,
        sessions=rest,
        next_cursor=None if page.next_key is None else paging.encode_cursor(page.next_key),
        hosts=hosts,
        hosts_total=sum(by_state.values()),
        hosts_by_state=dict(by_state),
        version=index.version,
    )


@dataclass(slots=True)
class _Cached:
    version: int
    built_at: datetime
    body: bytes
    build_seconds: float


class OverviewCache:
    """The serialised overview per ``limit``, rebuilt when the state changed (bounded, see above).

    ``build(limit)`` returns ``(state version, Overview)`` (it takes the state's lock itself);
    ``version()`` returns the state's current version (read without the lock: an int);
    ``clock()`` the aggregator's now. ``max_age`` and ``min_interval`` are seconds.
    """

    def __init__(
        self,
        build: Callable[[int], Overview],
        version: Callable[[], int],
        clock: Callable[[], datetime],
        *,
        max_age: float = 1.0,
        min_interval: float = 0.5,
        stale_limit: float = 2.0,
        background_after: float = 0.02,
    ) -> None:
        self._build = build
        self._version = version
        self._clock = clock
        self.max_age = max_age
        self.min_interval = min_interval
        self.stale_limit = stale_limit
        self.background_after = background_after
        self._cached: dict[int, _Cached] = {}
        self._lock = threading.Lock()
        self._refreshing: set[int] = set()
        self.builds = 0

    def get(self, limit: int = OVERVIEW_LIMIT) -> bytes:
        """Return the overview's JSON bytes for ``limit``, from the cache when still good.

        One build at a time: readers arriving during a build wait for it and get its bytes,
        unless builds are slow (``background_after``): then bytes up to ``stale_limit`` old are
        served while a background thread builds the next.
        """
        with self._lock:
            now = self._clock()
            cached = self._cached.get(limit)
            if cached is not None:
                age = (now - cached.built_at).total_seconds()
                bound = self.max_age if cached.version == self._version() else self.min_interval
                if 0 <= age < bound:
                    return cached.body
                if 0 <= age < self.stale_limit and cached.build_seconds >= self.background_after:
                    if limit not in self._refreshing:
                        self._refreshing.add(limit)
                        threading.Thread(
                            target=self._refresh,
                            args=(limit,),
                            name="sessionbeat-overview",
                            daemon=True,
                        ).start()
                    return cached.body
            return self._store(limit)

    def _make(self, limit: int) -> _Cached:
        """Build and serialise the overview for ``limit``, timing the build (no lock needed)."""
        started = time.perf_counter()
        overview = self._build(limit)
        body = Overview.__pydantic_serializer__.to_json(overview)
        return _Cached(overview.version, overview.now, body, time.perf_counter() - started)

    def _keep(self, limit: int, entry: _Cached) -> None:
        """Keep ``entry`` as the bytes for ``limit`` (caller holds ``_lock``)."""
        if limit not in self._cached and len(self._cached) >= MAX_LIMITS_CACHED:
            self._cached.clear()  # a client cycling through limits: keep memory bounded
        self._cached[limit] = entry
        self.builds += 1

    def _store(self, limit: int) -> bytes:
        """Build, serialise and keep the bytes for ``limit`` (caller holds ``_lock``)."""
        entry = self._make(limit)
        self._keep(limit, entry)
        return entry.body

    def _refresh(self, limit: int) -> None:
        """Background build for :meth:`get` (readers keep getting the old bytes meanwhile)."""
        try:
            entry = self._make(limit)
            with self._lock:
                self._keep(limit, entry)
        finally:
            with self._lock:
                self._refreshing.discard(limit)
