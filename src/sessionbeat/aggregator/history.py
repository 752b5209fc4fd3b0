"""The history of reaped sessions: a SQLite file (WAL journal), or a shared PostgreSQL database.

One row per reaped life of a session (reaped as ``ended`` or ``expired``, or ``cleared`` by
someone else), holding the whole :class:`~sessionbeat.models.HistoryEntry` as JSON plus the
columns the API filters on (host, repo, reaped_at), each indexed. A life already written is not
written again (``INSERT ... ON CONFLICT DO NOTHING`` on its unique key, see
:mod:`~sessionbeat.aggregator.history_schema`), so two aggregators reaping the same session
leave one row. Rows older than ``history_keep_days`` are deleted by :meth:`History.prune`.
Both backends run the same SQLAlchemy Core statements; without a ``url`` the store is the
SQLite file at ``path``, with one (``postgresql+psycopg://...``) it is that database.

Neither a full or unwritable disk, an unreachable database nor a corrupt file stops the
aggregator or loses a session (docs/architecture.md, "History failures"):

* Entries go through a bounded buffer in memory (:data:`MAX_PENDING` entries, oldest dropped
  beyond it, counted in :attr:`History.dropped`). A write that fails keeps them there; the next
  :meth:`History.add` or :meth:`History.flush` (the reaper calls it every pass) tries again, at
  most every ``retry_interval`` seconds, and writes them oldest first once it can.
* Every failed write or open is counted (:attr:`History.errors`, exported as a ``_total``
  counter) and logged once at ERROR with the reason (repeats at DEBUG until it works again).
* A SQLite file found corrupt (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``), at open or on any
  statement, is closed and moved aside, not deleted: ``history.sqlite3`` becomes
  ``history.sqlite3.corrupt-<UTC time>`` (with its ``-wal``/``-shm`` files), logged at ERROR
  with that path, and a fresh history is started in its place.
* :meth:`History.problems` says all of it in words, for ``GET /healthz``.

Reads of a history that cannot be opened raise
:class:`~sessionbeat.errors.HistoryUnavailableError` (HTTP 503 at the API), except that
:meth:`History.find` also answers from the entries waiting in memory.

A PostgreSQL URL's password is never logged nor shown (:func:`history_engine.redact`).

This module is the store (the lock, the buffer, the retries, the recovery); the statements it
runs are in :mod:`~sessionbeat.aggregator.history_queries`, the table in
:mod:`~sessionbeat.aggregator.history_schema`, the engines in
:mod:`~sessionbeat.aggregator.history_engine`, the SQLite file in
:mod:`~sessionbeat.aggregator.history_file`, the buffer in
:mod:`~sessionbeat.aggregator.history_backlog`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable
from sqlalchemy.exc import SQLAlchemyError

from sessionbeat.aggregator import history_queries as queries
from sessionbeat.aggregator.history_backlog import Backlog, Row
from sessionbeat.aggregator.history_engine import make_engine, password, reason, redact
from sessionbeat.aggregator.history_file import is_corrupt, move_aside
from sessionbeat.aggregator.history_schema import ensure_schema
from sessionbeat.errors import HistoryUnavailableError
from sessionbeat.models import HistoryEntry, HistoryPage, utc_now

log = logging.getLogger(__name__)

RETRY_INTERVAL = 10.0
"""Seconds after a failed open or write before the next attempt."""

MAX_PENDING = 10_000
"""Entries kept in memory while the history cannot be written (a few MB); the oldest go first."""

WRITE_CHUNK = 500
"""Entries per transaction when writing what waited in memory (a full disk takes what fits)."""

EXPORT_LIMIT = 10_000
"""Most entries one export returns."""

ERRORS = (SQLAlchemyError, sqlite3.Error, OSError, ImportError)
"""What a failed open, write or read raises (ImportError: a URL whose driver is missing)."""


class History:
    """The reaped-session store at ``path`` or ``url``; thread-safe (its engine behind a lock).

    ``path`` is the SQLite file, used when ``url`` is None; ``url`` a SQLAlchemy URL of a
    shared database (``postgresql+psycopg://user:pass@db:5432/sessionbeat``).
    ``keep_days`` is the retention in days. ``max_bytes`` caps the SQLite file (SQLite's
    ``max_page_count``): a write beyond it fails like a full disk. ``clock`` returns aware UTC
    datetimes. ``max_pending`` bounds the entries kept in memory while writes fail and
    ``retry_interval`` (seconds) spaces the attempts after a failure (module docstring). Call
    :meth:`open` first; every method works (or fails cleanly) without it.
    """

    def __init__(
        self,
        path: Path,
        keep_days: float,
        *,
        url: str | None = None,
        max_bytes: int | None = None,
        clock: Callable[[], datetime] = utc_now,
        max_pending: int = MAX_PENDING,
        retry_interval: float = RETRY_INTERVAL,
    ) -> None:
        self.path = path
        self.url = url
        self.location = redact(url) if url is not None else str(path)
        """Where the history is, for people: the file, or the URL without its password."""
        self._secret = password(url)
        self.keep_days = keep_days
        self.max_bytes = max_bytes
        self.clock = clock
        self.max_pending = max_pending
        self.retry_interval = retry_interval
        self.errors = 0
        """Failed opens, writes and prunes, and :meth:`add` calls whose entries had to wait."""
        self.last_error: str | None = None
        self.moved_aside: Path | None = None
        """Where the last corrupt file went (None: none was found since start)."""
        self._moved_at: datetime | None = None
        self._problem: str | None = None
        self._db: Engine | None = None
        self._lock = threading.Lock()
        self._failing = False
        self._next_try = 0.0
        self._pending = Backlog(max_pending)

    @property
    def ok(self) -> bool:
        """True while the database is open, the last write succeeded and nothing waits."""
        return self._db is not None and not self._failing and not self._pending

    @property
    def writable(self) -> bool:
        """True while the database is open and the last write (or open) succeeded."""
        return self._db is not None and not self._failing

    @property
    def dropped(self) -> int:
        """Entries dropped from the full backlog in memory (never written)."""
        return self._pending.dropped

    @property
    def pending(self) -> int:
        """How many entries wait in memory to be written."""
        return len(self._pending)

    def problems(self) -> list[str]:
        """Return what is wrong with the history, one sentence each (empty: nothing).

        A corrupt file moved aside and entries dropped from memory stay listed until the
        process restarts; "not writable" lasts while writes fail.
        """
        with self._lock:
            out: list[str] = []
            if self.moved_aside is not None and self._moved_at is not None:
                out.append(
                    f"history was corrupt: moved aside as {self.moved_aside.name} at "
                    f"{self._moved_at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}; a fresh one started"
                )
            if not self.writable:
                out.append(
                    f"history not writable ({self._problem or 'not opened yet'}); "
                    "reaped sessions wait in memory"
                )
            if self.dropped:
                out.append(
                    "history memory buffer overflowed: the oldest waiting sessions were dropped"
                )
            return out

    # -- opening and recovery ----------------------------------------------------------------

    def open(self) -> bool:
        """Open (creating directories, file and schema) and return True; False on failure.

        A corrupt file is moved aside first (module docstring). A failure is counted in
        :attr:`errors` and logged like a failed write.
        """
        with self._lock:
            opened = self._open_locked()
            if not opened:
                self.errors += 1
            return opened

    def _connect(self) -> Engine:
        """Return a new engine on the database, its schema made sure of; raises :data:`ERRORS`."""
        engine = make_engine(self.url, self.path, self.max_bytes)
        try:
            with engine.begin() as conn:
                ensure_schema(conn)
        except BaseException:
            engine.dispose()
            raise
        return engine

    def _corrupt(self, exc: BaseException) -> bool:
        """Return True if ``exc`` says the SQLite file is corrupt (never for a URL's database)."""
        return self.url is None and is_corrupt(exc)

    def _open_locked(self) -> bool:
        if self._db is not None:
            return True
        try:
            try:
                self._db = self._connect()
            except ERRORS as exc:
                if not self._corrupt(exc):
                    raise
                self._recover_locked(exc)
        except ERRORS as exc:
            self._failed("open", exc)
            return False
        log.info("history at %s (keeping %g days)", self.location, self.keep_days)
        self._recovered()
        return True

    def _recover_locked(self, exc: BaseException) -> None:
        """Close the corrupt SQLite file, move it aside and open a fresh one in its place.

        Raises ``OSError`` (the file could not be moved) or one of :data:`ERRORS` (nor
        reopened).
        """
        if self._db is not None:
            self._db.dispose()
            self._db = None
        when = self.clock()
        try:
            aside = move_aside(self.path, when)
        except OSError as move_exc:
            raise OSError(
                f"corrupt ({reason(exc)}) and cannot be moved aside: {move_exc}"
            ) from move_exc
        self.moved_aside, self._moved_at = aside, when
        log.error(
            "history %s is corrupt (%s): moved it aside to %s, kept for inspection; "
            "starting a fresh history",
            self.path,
            reason(exc),
            aside,
        )
        self._db = self._connect()

    def _failed(self, what: str, exc: BaseException) -> None:
        why = reason(exc, self._secret)
        self.last_error = f"{what} {self.location}: {why}"
        self._problem = f"{what} failed: {why}"
        self._next_try = time.monotonic() + self.retry_interval
        if self._failing:
            log.debug("history %s failed again: %s", what, exc)
        else:
            self._failing = True
            log.error(
                "history %s failed (%s); reaped sessions wait in memory (up to %d) until it "
                "works again",
                self.last_error,
                type(exc).__name__,
                self.max_pending,
            )

    def _recovered(self) -> None:
        self._next_try = 0.0
        self._problem = None
        if self._failing:
            self._failing = False
            self._pending.recovered()
            log.warning("history %s is writable again", self.location)

    def _due(self) -> bool:
        """Return True unless a failure happened less than ``retry_interval`` seconds ago."""
        return time.monotonic() >= self._next_try

    # -- writing -----------------------------------------------------------------------------

    def add(self, entries: Iterable[HistoryEntry]) -> int:
        """Queue ``entries``, then write all that waits, oldest first; return how many now.

        Entries that cannot be written wait in memory (:attr:`pending`), the call counts one
        error. Never raises for disk or database errors.
        """
        new = list(entries)
        if not new:
            return 0
        with self._lock:
            self._pending.extend(new)
            written = self._write_locked()
            if self._pending:
                self.errors += 1
            return written

    def flush(self, *, force: bool = False) -> int:
        """Write what waits in memory if the retry interval allows; return how many were written.

        ``force`` tries even within the retry interval (the last chance, at shutdown). A failed
        attempt counts one error. The reaper calls this on every pass.
        """
        with self._lock:
            if not self._pending or not (force or self._due()):
                return 0
            written = self._write_locked(force=force)
            if self._pending:
                self.errors += 1
            return written

    def _write_locked(self, *, force: bool = False) -> int:
        if not (force or self._due()) or (self._db is None and not self._open_locked()):
            return 0
        written = 0
        while self._pending:
            chunk = self._pending.head(WRITE_CHUNK)
            try:
                self._insert_locked(chunk)
            except ERRORS as exc:
                self._failed("write to", exc)
                return written
            self._pending.pop(len(chunk))
            written += len(chunk)
        self._recovered()
        return written

    def _healing(self, statement: Executable, rows: list[Row] | None = None) -> Any:
        """Run ``statement`` (with ``rows``: an insert) in one transaction; return its result.

        A SELECT's rows come back as a list, else the ``CursorResult``. A corrupt SQLite file
        is moved aside and the statement run again on the fresh one. Raises :data:`ERRORS`.
        """
        for attempt in (1, 2):
            if self._db is None:
                raise sqlite3.OperationalError("history is not open")
            try:
                with self._db.begin() as conn:  # commits, or rolls back on error
                    result = conn.execute(statement, rows) if rows else conn.execute(statement)
                    return result.all() if result.returns_rows else result
            except ERRORS as exc:
                if attempt == 2 or not self._corrupt(exc):
                    raise
                self._recover_locked(exc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert_locked(self, rows: list[Row]) -> None:
        """Insert ``rows`` in one transaction, skipping lives already written (module docstring)."""
        assert self._db is not None
        self._healing(queries.insert(self._db.dialect.name), rows)

    def prune(self) -> int:
        """Delete rows reaped more than ``keep_days`` ago; return how many (0 on failure)."""
        cutoff = self.clock() - timedelta(days=self.keep_days)
        with self._lock:
            if self._db is None:
                return 0
            try:
                return int(self._healing(queries.prune(cutoff)).rowcount)
            except ERRORS as exc:
                self.errors += 1
                self._failed("prune of", exc)
                return 0

    # -- reading -----------------------------------------------------------------------------

    def _read(self, statement: Executable) -> Sequence[Any]:
        with self._lock:
            if self._db is None and (not self._due() or not self._open_locked()):
                raise HistoryUnavailableError(f"history unavailable: {self.last_error}")
            try:
                return list(self._healing(statement))
            except ERRORS as exc:
                why = reason(exc, self._secret)
                raise HistoryUnavailableError(f"history read failed: {why}") from exc

    def page(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        host: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> HistoryPage:
        """Return one page of entries reaped in ``[since, until)``, newest first.

        ``limit`` and ``offset`` count entries (``offset`` at most
        :data:`~sessionbeat.aggregator.history_queries.MAX_OFFSET`); entries still waiting in
        memory are not listed. Raises ``HistoryUnavailableError``.
        """
        return queries.page(
            self._read, limit=limit, offset=offset, host=host, repo=repo, since=since, until=until
        )

    def entries(
        self,
        *,
        host: str | None = None,
        repo: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = EXPORT_LIMIT,
    ) -> list[HistoryEntry]:
        """Return up to ``limit`` matching entries, newest first (for exports)."""
        return self.page(limit=limit, host=host, repo=repo, since=since, until=until).items

    def find(self, session_id: str, host: str | None = None) -> HistoryEntry | None:
        """Return the newest entry of ``session_id`` (on ``host`` if given), or None.

        Entries waiting in memory count (the newest of them first). Raises
        ``HistoryUnavailableError`` when none waits and the database cannot be read.
        """
        with self._lock:
            waiting = self._pending.find(session_id, host)
        if waiting is not None:
            return waiting
        return queries.find(self._read, session_id, host)

    def close(self) -> None:
        """Close the database (further writes reopen it; entries waiting stay in memory)."""
        with self._lock:
            if self._db is not None:
                self._db.dispose()
                self._db = None
