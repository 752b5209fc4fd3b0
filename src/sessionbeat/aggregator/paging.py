"""Pages of ``GET /sessions`` over the state's ordered index (keyset pagination), and cursors.

A page starts after a sort key (:data:`~sessionbeat.aggregator.index.OrderKey`: status rank,
minus ``sent_at``, host, session id) and holds up to ``limit`` sessions in ``GET /sessions``
order. Without a host or repo filter it walks the state's ``SortedList`` from that key, so a
page of 100 costs O(log n + 100) whatever the fleet; with one, it sorts that host's or repo's
sessions. The cursor a client gets is the opaque, URL-safe form of the last key of a page
(:func:`encode_cursor`); a session whose status or ``sent_at`` changed between two pages may be
seen twice or not at all (keyset pagination over live data), never a session outside the
filter. Pure functions over the state, called under the service's lock.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sessionbeat.aggregator.index import HIDDEN_BY_DEFAULT, RANK, OrderKey, order_key
from sessionbeat.aggregator.records import AggregatorState, SessionKey
from sessionbeat.aggregator.state import effective_status
from sessionbeat.errors import CursorError
from sessionbeat.models import STATUS_ORDER, SessionStatus

AFTER_APPROVALS: OrderKey = (RANK[SessionStatus.NEEDS_APPROVAL], math.inf, "", "")
"""A key after every needs-approval session and before all others (the overview's rest)."""


def encode_cursor(key: OrderKey) -> str:
    """Return the opaque cursor of a sort key: base64url (no padding) of a JSON array."""
    raw = json.dumps(list(key), separators=(",", ":"), allow_nan=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> OrderKey:
    """Return the sort key of a cursor made by :func:`encode_cursor`.

    Raises :class:`CursorError` for anything else (bad base64, JSON or shape).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, neg_sent, host, session_id = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise CursorError("not a cursor of GET /sessions (use X-Next-Cursor as given)") from exc
    if (
        type(rank) is not int
        or not 0 <= rank < len(STATUS_ORDER)
        or type(neg_sent) not in (int, float)
        or not isinstance(host, str)
        or not isinstance(session_id, str)
    ):
        raise CursorError("not a cursor of GET /sessions (use X-Next-Cursor as given)")
    return (rank, float(neg_sent), host, session_id)


@dataclass(frozen=True, slots=True)
class KeyPage:
    """One page of session keys in ``GET /sessions`` order.

    ``keys`` and their ``statuses`` at the page's instant; ``next_key`` is the sort key to
    continue after (None: this was the last page); ``total`` is how many sessions match the
    filter in all pages.
    """

    keys: list[SessionKey]
    statuses: list[SessionStatus]
    next_key: OrderKey | None
    total: int


def moved_statuses(state: AggregatorState, now: datetime) -> dict[SessionKey, SessionStatus]:
    """Return the sessions whose effective status at ``now`` differs from the stored one.

    Only the sessions due by ``now`` (their heap entry; ``expire`` has not run since) can
    differ, so this costs O(what is due), typically what became idle or stale in the last
    reaper period.
    """
    out: dict[SessionKey, SessionStatus] = {}
    sessions, hosts, timings = state.sessions, state.hosts, state.timings
    for key in state.index.peek_due(now):
        record = sessions[key]
        status = effective_status(record, hosts.get(key[0]), now, timings)
        if status is not record.effective:
            out[key] = status
    return out


def status_counts(
    state: AggregatorState, moved: dict[SessionKey, SessionStatus]
) -> Counter[SessionStatus]:
    """Return the number of sessions per effective status, corrected by ``moved``."""
    counts = Counter(state.index.status_counts)
    for key, status in moved.items():
        counts[state.sessions[key].effective] -= 1
        counts[status] += 1
    return counts


def allowed_ranks(status: SessionStatus | None, all: bool) -> list[int]:
    """Return the ranks a filter lets through: one status, all, or all but stale and ended."""
    if status is not None:
        return [RANK[status]]
    return [RANK[s] for s in STATUS_ORDER if all or s not in HIDDEN_BY_DEFAULT]


def page_keys(
    state: AggregatorState,
    now: datetime,
    *,
    host: str | None = None,
    repo: str | None = None,
    status: SessionStatus | None = None,
    all: bool = False,
    after: OrderKey | None = None,
    limit: int | None = None,
) -> KeyPage:
    """Return the page of up to ``limit`` sessions (None: all) after ``after`` matching the filter.

    Filters are exact matches as in ``GET /sessions`` (``all`` adds stale and ended sessions;
    ``status`` overrides it). Statuses are those at ``now``.
    """
    moved = moved_statuses(state, now)
    ranks = allowed_ranks(status, all)
    if host is not None or repo is not None:
        return _page_of_subset(state, moved, ranks, host, repo, after, limit)
    index = state.index
    sessions = state.sessions
    stale_keys = {index.entries[key].order for key in moved}
    rank_set = set(ranks)
    fresh: list[tuple[OrderKey, SessionStatus]] = []
    for key, now_status in moved.items():
        if RANK[now_status] in rank_set:
            k = order_key(now_status, sessions[key].beat.sent_at, key[0], key[1])
            if after is None or k > after:
                fresh.append((k, now_status))
    fresh.sort()
    stored = (
        (k, STATUS_ORDER[k[0]]) for k in _walk(index.order, ranks, after) if k not in stale_keys
    )
    merged = heapq.merge(stored, fresh)
    taken = list(itertools.islice(merged, None if limit is None else limit + 1))
    counts = status_counts(state, moved)
    total = sum(counts[STATUS_ORDER[r]] for r in ranks)
    return _cut(taken, limit, total)


def _walk(
    order: Iterable[OrderKey], ranks: list[int], after: OrderKey | None
) -> Iterator[OrderKey]:
    """Yield the keys of ``order`` (a SortedList) in the given ranks, strictly after ``after``."""
    for rank in ranks:
        if after is not None and after[0] > rank:
            continue
        if after is not None and after[0] == rank:
            start: OrderKey | tuple[int] = after
            inclusive = False
        else:
            start, inclusive = (rank,), True
        yield from order.irange(start, (rank + 1,), inclusive=(inclusive, False))  # type: ignore[attr-defined]


def _page_of_subset(
    state: AggregatorState,
    moved: dict[SessionKey, SessionStatus],
    ranks: list[int],
    host: str | None,
    repo: str | None,
    after: OrderKey | None,
    limit: int | None,
) -> KeyPage:
    """Return a page among one host's or one repo's sessions: O(m log m) for m of them."""
    index = state.index
    keys: Iterable[SessionKey]
    if host is not None:
        keys = [(host, sid) for sid in index.by_host.get(host, ())]
        if repo is not None:
            keys = [k for k in keys if index.entries[k].repo == repo]
    else:
        keys = index.by_repo.get(repo, ())
    rank_set = set(ranks)
    rows: list[tuple[OrderKey, SessionStatus]] = []
    for key in keys:
        now_status = moved.get(key)
        if now_status is None:
            k = index.entries[key].order
            now_status = STATUS_ORDER[k[0]]
        else:
            k = order_key(now_status, state.sessions[key].beat.sent_at, key[0], key[1])
        if k[0] in rank_set:
            rows.append((k, now_status))
    rows.sort()
    total = len(rows)
    if after is not None:
        rows = [row for row in rows if row[0] > after]
    return _cut(rows if limit is None else rows[: limit + 1], limit, total)


def _cut(rows: list[tuple[OrderKey, SessionStatus]], limit: int | None, total: int) -> KeyPage:
    more = limit is not None and len(rows) > limit
    if more:
        rows = rows[:limit]
    return KeyPage(
        keys=[(k[2], k[3]) for k, _s in rows],
        statuses=[s for _k, s in rows],
        next_key=rows[-1][0] if more and rows else None,
        total=total,
    )
