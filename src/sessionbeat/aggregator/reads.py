"""The aggregator's read side: views of the live state, each built under the service's lock.

:class:`StateReads` answers the HTTP handlers (sessions, hosts, summary, overview, health, the
``GET /events`` changes) and the Prometheus collector (:meth:`StateReads.snapshot`). Each call
takes the lock briefly and builds its answer with the pure functions of
:mod:`sessionbeat.aggregator.views` at the clock's now.
:class:`~sessionbeat.aggregator.service.AggregatorService` is one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime

from pydantic import BaseModel, TypeAdapter

from sessionbeat import __version__
from sessionbeat.aggregator import paging, views
from sessionbeat.aggregator.events import ChangeKey
from sessionbeat.aggregator.history import History
from sessionbeat.aggregator.mqtt_link import MqttLink
from sessionbeat.aggregator.overview import OVERVIEW_LIMIT, OverviewCache, build_overview
from sessionbeat.aggregator.snapshot import take_snapshot
from sessionbeat.aggregator.state import AggregatorState
from sessionbeat.errors import NotFoundError
from sessionbeat.exporter.snapshot import StateSnapshot
from sessionbeat.models import (
    Health,
    HostView,
    Overview,
    SessionDetail,
    SessionRemoved,
    SessionView,
    Summary,
)

ChangeEvent = tuple[str, BaseModel]
"""An event for ``GET /events``: (``session`` | ``removed`` | ``host``, its payload model)."""

SESSION_LIST: TypeAdapter[list[SessionView]] = TypeAdapter(list[SessionView])
"""Serialises a page of ``GET /sessions`` straight to JSON bytes (pydantic-core)."""

DEFAULT_PAGE = 100
"""Sessions per page of ``GET /sessions`` when no ``limit`` is given."""


class StateReads:
    """Readers of ``state`` under ``lock``, at ``clock``'s now (aware UTC datetimes).

    ``history`` tells whether the history is writable and ``link`` whether the broker is
    connected (both for :meth:`health`, :meth:`summary` and :meth:`snapshot`).
    """

    def __init__(
        self,
        state: AggregatorState,
        lock: threading.Lock,
        clock: Callable[[], datetime],
        history: History,
        link: MqttLink,
    ) -> None:
        self.state = state
        self.lock = lock
        self.clock = clock
        self.history = history
        self.link = link
        self.overview_cache = OverviewCache(self.overview, lambda: self.state.index.version, clock)

    @property
    def broker_connected(self) -> bool:
        """True while connected to the broker (and subscribed, on a fresh session)."""
        return self.link.connected

    def snapshot(self) -> StateSnapshot:
        """Return a consistent copy of the state's facts at the clock's now (for the exporter)."""
        now = self.clock()
        with self.lock:
            return take_snapshot(self.state, now, self.broker_connected)

    def sessions(self, flt: views.SessionFilter | None = None) -> list[SessionView]:
        """Return the live sessions matching ``flt`` in ``GET /sessions`` order."""
        now = self.clock()
        with self.lock:
            return views.list_sessions(self.state, now, flt)

    def sessions_json(
        self,
        flt: views.SessionFilter | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> tuple[bytes, str | None, int]:
        """Return one page of ``GET /sessions``: (JSON array bytes, next cursor or None, total).

        ``cursor`` is a previous page's next cursor (raises
        :class:`~sessionbeat.aggregator.paging.CursorError` for anything else); ``total`` is
        the number of sessions matching ``flt`` in all pages. The views are built under the
        lock, serialised after it.
        """
        after = None if cursor is None else paging.decode_cursor(cursor)
        now = self.clock()
        with self.lock:
            items, page = views.sessions_page(self.state, now, flt, after=after, limit=limit)
        nxt = None if page.next_key is None else paging.encode_cursor(page.next_key)
        return SESSION_LIST.dump_json(items), nxt, page.total

    def session(self, session_id: str, host: str | None = None) -> SessionDetail:
        """Return one live session with its timeline; raises ``NotFoundError``."""
        now = self.clock()
        with self.lock:
            record = views.find_session(self.state, session_id, host)
            if record is None:
                where = f" on host {host!r}" if host else ""
                raise NotFoundError(f"no live session {session_id!r}{where}")
            return views.session_detail(
                record, self.state.hosts.get(record.beat.host), now, self.state
            )

    def hosts(self) -> list[HostView]:
        """Return every known host, sorted by id."""
        now = self.clock()
        with self.lock:
            return views.list_hosts(self.state, now)

    def summary(self) -> Summary:
        """Return the totals of ``GET /summary``."""
        now = self.clock()
        with self.lock:
            return views.summarize(self.state, now, self.broker_connected)

    def count_request(self, route: str) -> None:
        """Count one HTTP request by route template (``sessionbeat_http_requests_total``)."""
        with self.lock:
            self.state.counters.http_requests[route] += 1

    def overview(self, limit: int = OVERVIEW_LIMIT) -> Overview:
        """Return the overview at one instant: attention, first ``limit`` others, folded hosts.

        See :func:`~sessionbeat.aggregator.overview.build_overview`; built under the lock.
        """
        now = self.clock()
        connected = self.broker_connected
        with self.lock:
            return build_overview(self.state, now, connected, limit)

    def overview_json(self, limit: int = OVERVIEW_LIMIT) -> bytes:
        """Return the overview's JSON bytes, cached per state version with a bounded age.

        See :class:`~sessionbeat.aggregator.overview.OverviewCache`.
        """
        return self.overview_cache.get(limit)

    def health(self) -> Health:
        """Return the health document of ``GET /healthz`` and ``GET /readyz``.

        ``ready`` is True while the broker is connected and the history writable; ``reasons``
        says in words why ``status`` is ``degraded`` (also after a corrupt history was moved
        aside, until the process restarts).
        """
        now = self.clock()
        with self.lock:
            last = self.state.last_message_at
        connected = self.broker_connected
        reasons = [] if connected else ["broker not connected"]
        reasons += self.history.problems()
        return Health(
            status="degraded" if reasons else "ok",
            ready=connected and self.history.writable,
            reasons=reasons,
            broker_connected=connected,
            history_ok=self.history.ok,
            now=now,
            last_message_at=last,
            version=__version__,
        )

    def render_changes(
        self,
        batch: dict[ChangeKey, str | None],
        seen: dict[ChangeKey, Hashable] | None = None,
    ) -> list[ChangeEvent]:
        """Turn a batch of change keys into ``GET /events`` events with the current state.

        A session key yields ``("session", SessionView)`` when the session is live, else
        ``("removed", SessionRemoved)``; a host key yields ``("host", HostView)``. With
        ``seen`` (the notifier's), a live session whose status, status time, tool and detail
        are what ``seen`` holds for it is skipped (a heartbeat), and ``seen`` is updated: the
        notifier then builds views only for what can change its decisions.
        """
        now = self.clock()
        out: list[ChangeEvent] = []
        with self.lock:
            host_views: dict[str, HostView] | None = None
            for key, reason in batch.items():
                if isinstance(key, str):
                    if host_views is None:
                        host_views = {h.host: h for h in views.list_hosts(self.state, now)}
                    if key in host_views:
                        out.append(("host", host_views[key]))
                    continue
                record = self.state.sessions.get(key)
                if record is None:
                    if seen is not None:
                        seen.pop(key, None)
                    removed = SessionRemoved(
                        host=key[0], session_id=key[1], reason=reason or "cleared"
                    )
                    out.append(("removed", removed))
                else:
                    if seen is not None:
                        beat = record.beat
                        mark = (record.effective, record.status_since, beat.tool, beat.detail)
                        if seen.get(key) == mark:
                            continue
                        seen[key] = mark
                    view = views.session_view(record, self.state.hosts.get(key[0]), now, self.state)
                    out.append(("session", view))
        return out
