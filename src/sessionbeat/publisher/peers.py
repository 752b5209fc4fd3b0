"""The agent's memory of the live sessions of every host, for ``publish --announce``.

A host's broker user reads only its own subtree (mosquitto/acl), so the agent learns the other
hosts' sessions from the aggregator's API: :class:`PeerFetcher` reads ``GET /sessions`` (the
aggregator's :class:`~sessionbeat.models.SessionView` list, docs/architecture.md "HTTP API") on
a thread of its own every :data:`REFRESH_INTERVAL` seconds, and at once when asked
(:meth:`PeerFetcher.poke`). Its own host's sessions the agent knows first-hand, and sooner: the
worker hands :class:`PeerBoard` every beat it publishes (:meth:`PeerBoard.note_beat`), and they
replace what the API said about this host.

A fleet is not downloaded: one page of up to :data:`WHOLE_LIST_MAX` sessions holds every live
session of a small one (as before paging); when ``GET /sessions`` says there are more, the
fetcher reads only the repos that matter here (``GET /sessions?repo=``, the server filtering):
those of this host's own sessions and those a SessionStart asked about
(:meth:`PeerBoard.peers` with ``repo``). A repo not read yet is "unknown", never "nobody".

The API is read with httpx directly, not through ``readers.client.ApiClient``: the readers
import the publisher, so the publisher importing the readers would close a loop
(tests/test_layout.py). One ``GET`` validated into the contract's ``SessionView`` is all it
needs.

Nothing here blocks a caller: the fetch runs on its own thread, the board answers from memory
under a lock held for microseconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from pydantic import TypeAdapter, ValidationError

from sessionbeat.models import (
    PublishedStatus,
    SessionBeat,
    SessionStatus,
    SessionView,
    StatusSource,
    utc_now,
)

log = logging.getLogger(__name__)

REFRESH_INTERVAL = 10.0
"""Seconds between two reads of ``GET /sessions`` (sooner when a SessionStart finds it older)."""
MAX_AGE = 60.0
"""Seconds after which the API's list is too old to tell anyone anything: say nothing."""
FETCH_TIMEOUT = 5.0
"""Seconds one ``GET /sessions`` may take (connect, read)."""
WHOLE_LIST_MAX = 1000
"""Live sessions up to which the whole list is read in one page (the API's largest)."""
REPO_PAGES_MAX = 5
"""Pages of :data:`WHOLE_LIST_MAX` read per repo at most (a repo with more is cut)."""
ASKED_MAX = 64
"""Repos asked about by SessionStarts remembered (the oldest forgotten first)."""

_VIEWS = TypeAdapter(list[SessionView])
_HOOK_DECAYS = (PublishedStatus.WORKING, PublishedStatus.WAITING_FOR_INPUT)
_AS_SESSION_STATUS = {p: SessionStatus(p.value) for p in PublishedStatus}


@dataclass(frozen=True, slots=True)
class Peer:
    """One live session as the agent last heard of it, on any host.

    ``status`` is the effective status (the aggregator's rules: ``idle`` derived); ``tool`` and
    ``task`` as its last beat said; ``started_at`` on this host's clock (None if unknown).
    """

    host: str
    session_id: str
    repo: str | None
    branch: str | None
    status: SessionStatus
    tool: str | None
    task: str | None
    started_at: datetime | None


class PeerBoard:
    """The sessions of every host, from the API, merged with this host's own; thread-safe.

    ``host`` is this agent's host id; ``idle_after`` and ``stale_after`` (seconds) derive the
    status of this host's sessions as the aggregator would (docs/architecture.md "Status
    model"): ``idle`` after that long without hook activity, left out once silent for
    ``stale_after``.
    """

    def __init__(self, host: str, idle_after: float, stale_after: float) -> None:
        self.host = host
        self.idle_after = timedelta(seconds=idle_after)
        self.stale_after = timedelta(seconds=stale_after)
        self._lock = threading.Lock()
        self._remote: list[Peer] = []
        self._covered: frozenset[str] | None = None
        self._asked: dict[str, None] = {}
        self._local: dict[str, SessionBeat] = {}
        self.fetched_at: datetime | None = None
        """When the API's list was last read (aware UTC), None before the first success."""
        self.last_error: str | None = None
        """Why the last read failed (None after a success)."""
        self.failures = 0
        """Reads of the API that failed since the agent started."""

    def note_beat(self, beat: SessionBeat) -> None:
        """Remember a beat this agent publishes (from the worker thread); ``ended`` forgets."""
        with self._lock:
            if beat.status is PublishedStatus.ENDED:
                self._local.pop(beat.session_id, None)
            else:
                self._local[beat.session_id] = beat

    def set_remote(
        self, views: list[SessionView], at: datetime, repos: frozenset[str] | None = None
    ) -> None:
        """Replace the API's list with ``views``, read at ``at`` (aware UTC).

        ``repos`` None: ``views`` is every live session; else only those of these repos.
        """
        remote = [
            Peer(
                v.host,
                v.session_id,
                v.repo,
                v.branch,
                v.status,
                v.tool,
                v.task,
                None if v.age_seconds is None else at - timedelta(seconds=v.age_seconds),
            )
            for v in views
        ]
        with self._lock:
            self._remote = remote
            self._covered = repos
            self.fetched_at = at
            self.last_error = None

    def failed(self, error: str) -> None:
        """Note that a read of the API failed (the list read before stays, and ages)."""
        with self._lock:
            self.last_error = error
            self.failures += 1

    def age(self, now: datetime) -> float | None:
        """Seconds since the API's list was read, None if it never was."""
        fetched = self.fetched_at
        return None if fetched is None else (now - fetched).total_seconds()

    def wanted_repos(self) -> frozenset[str]:
        """Return the repos to read in a fleet: this host's sessions' and those asked about."""
        with self._lock:
            own = {b.repo for b in self._local.values() if b.repo}
            return frozenset(own | self._asked.keys())

    def peers(self, now: datetime, repo: str | None = None) -> list[Peer] | None:
        """Return every session known at ``now``: this host's first-hand, the others' from the API.

        None when the API's list is missing or older than :data:`MAX_AGE` seconds: better
        nothing than something wrong; None too when ``repo`` is given and the last read did
        not cover it (a fleet's read holds only some repos): the repo is then remembered and
        read from the next time. This host's sessions silent for ``stale_after`` are left
        out; the others carry the status the aggregator gave them.
        """
        with self._lock:
            if self.fetched_at is None or (now - self.fetched_at).total_seconds() > MAX_AGE:
                return None
            if repo is not None and self._covered is not None and repo not in self._covered:
                self._asked[repo] = None
                while len(self._asked) > ASKED_MAX:
                    del self._asked[next(iter(self._asked))]
                return None
            remote = [p for p in self._remote if p.host != self.host]
            local = list(self._local.values())
        return remote + [
            self._local_peer(b, now) for b in local if now - b.sent_at <= self.stale_after
        ]

    def _local_peer(self, beat: SessionBeat, now: datetime) -> Peer:
        status = _AS_SESSION_STATUS[beat.status]
        if (
            beat.status in _HOOK_DECAYS
            and beat.status_source is StatusSource.HOOK
            and beat.last_activity_at is not None
            and now - beat.last_activity_at > self.idle_after
        ):
            status = SessionStatus.IDLE
        return Peer(
            beat.host,
            beat.session_id,
            beat.repo,
            beat.branch,
            status,
            beat.tool,
            beat.task,
            beat.started_at,
        )

    def status(self) -> dict[str, object]:
        """Return what ``agent-status.json`` shows of it: last read, sessions held, failures."""
        with self._lock:
            return {
                "fetched_at": None if self.fetched_at is None else self.fetched_at.isoformat(),
                "remote_sessions": len(self._remote),
                "remote_repos": None if self._covered is None else len(self._covered),
                "local_sessions": len(self._local),
                "error": self.last_error,
                "failures": self.failures,
            }


class PeerFetcher:
    """Reads ``GET /sessions`` into a :class:`PeerBoard` on a daemon thread.

    Takes the board, the API's base URL and bearer token (None: none sent), the seconds between
    reads and per read, and a clock returning aware UTC datetimes. A failed read is logged once
    per streak of failures (and its end once); the board keeps the list it had, which
    :meth:`PeerBoard.peers` stops using after :data:`MAX_AGE` seconds. Call :meth:`start` and
    :meth:`stop`.
    """

    def __init__(
        self,
        board: PeerBoard,
        api_url: str,
        token: str | None = None,
        interval: float = REFRESH_INTERVAL,
        timeout: float = FETCH_TIMEOUT,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.board = board
        self.api_url = api_url.rstrip("/")
        self.interval = interval
        self.clock = clock
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.api_url, headers=headers, timeout=timeout)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._fleet = False
        self.reads = 0
        """Successful reads so far."""

    def start(self) -> None:
        """Start reading in the background (the first read at once)."""
        self._thread = threading.Thread(target=self._run, name="sb-peers", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Ask for a read now (any thread; returns at once)."""
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (waiting at most ``timeout`` seconds) and close the connections.

        A read still running then (a slow API) is left to its daemon thread, not cut under it.
        """
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return
        self._http.close()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.fetch()
            self._wake.wait(self.interval)
            self._wake.clear()

    def fetch(self) -> bool:
        """Read ``GET /sessions`` once into the board; True on success. Never raises.

        One page of :data:`WHOLE_LIST_MAX` when that is every live session; in a larger
        fleet, the sessions of :meth:`PeerBoard.wanted_repos` only (``?repo=``).
        """
        try:
            views, repos = self._read()
        except (httpx.HTTPError, ValidationError) as exc:
            detail = f"{type(exc).__name__}: {exc}"[:300]
            self.board.failed(detail)
            if not self._failing:
                self._failing = True
                log.warning("announce: cannot read %s/sessions (%s)", self.api_url, detail)
            return False
        except Exception as exc:  # a bug must not end the thread
            self.board.failed(repr(exc)[:300])
            log.exception("announce: reading %s/sessions failed", self.api_url)
            return False
        self.board.set_remote(views, self.clock(), repos)
        self.reads += 1
        if self._failing:
            self._failing = False
            log.info("announce: %s/sessions answers again", self.api_url)
        return True

    def _page(self, params: dict[str, str]) -> tuple[list[SessionView], str | None, int]:
        """Return one page: its sessions, ``X-Next-Cursor`` and ``X-Total-Count``."""
        response = self._http.get("/sessions", params=params)
        response.raise_for_status()
        views = _VIEWS.validate_json(response.content)
        total = response.headers.get("x-total-count", "")
        return views, response.headers.get("x-next-cursor"), int(total or len(views))

    def _read(self) -> tuple[list[SessionView], frozenset[str] | None]:
        """Return the sessions read and the repos they cover (None: every live session)."""
        if not self._fleet:
            views, cursor, _total = self._page({"limit": str(WHOLE_LIST_MAX)})
            if cursor is None:
                return views, None
            self._fleet = True
        else:  # a fleet: has it shrunk back? one session tells (X-Total-Count)
            _views, _cursor, total = self._page({"limit": "1"})
            if total <= WHOLE_LIST_MAX:
                self._fleet = False
                return self._read()
        repos = self.board.wanted_repos()
        out: list[SessionView] = []
        for repo in sorted(repos):
            params = {"repo": repo, "limit": str(WHOLE_LIST_MAX)}
            for _ in range(REPO_PAGES_MAX):
                views, cursor, _total = self._page(params)
                out += views
                if cursor is None:
                    break
                params["cursor"] = cursor
        return out, repos
