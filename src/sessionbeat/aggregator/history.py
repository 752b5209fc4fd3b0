"""The SQLite history of reaped sessions (stdlib ``sqlite3``, WAL journal).

One row per session leaving the live state (reaped as ``ended`` or ``expired``, or ``cleared``
by someone else), holding the whole :class:`~sessionbeat.models.HistoryEntry` as JSON plus the
columns the API filters on (host, repo, reaped_at), each indexed. Rows older than
``history_keep_days`` are deleted by :meth:`History.prune`.

A full or unwritable disk must not stop the aggregator: every write failure is counted
(:attr:`History.errors`, exported as a ``_total`` counter), logged once at ERROR with the
reason (repeats at DEBUG until a write succeeds again), and the entry is dropped. Opening is
retried at most every :data:`REOPEN_INTERVAL` seconds. Reads of a history that could not be
opened raise :class:`~sessionbeat.errors.HistoryUnavailableError` (HTTP 503 at the API).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sessionbeat.errors import HistoryUnavailableError
from sessionbeat.models import HistoryEntry, HistoryPage, utc_now

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
REOPEN_INTERVAL = 60.0
"""Seconds between attempts to (re)open a history that failed."""

EXPORT_LIMIT = 10_000
"""Most entries one export returns."""

MAX_OFFSET = 2**63 - 1
"""The largest ``offset`` of :meth:`History.page`: SQLite's largest INTEGER (64-bit signed)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reaped_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    host TEXT NOT NULL,
    repo TEXT,
    reap_reason TEXT NOT NULL,
    reaped_at REAL NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reaped_sessions_host ON reaped_sessions (host, reaped_at);
CREATE INDEX IF NOT EXISTS reaped_sessions_repo ON reaped_sessions (repo, reaped_at);
CREATE INDEX IF NOT EXISTS reaped_sessions_reaped_at ON reaped_sessions (reaped_at);
CREATE INDEX IF NOT EXISTS reaped_sessions_session ON reaped_sessions (session_id, reaped_at);
"""


def _ts(value: datetime) -> float:
    return value.astimezone(UTC).timestamp()


class History:
    """The reaped-session store at ``path``; thread-safe (one connection behind a lock).

    ``keep_days`` is the retention in days. ``max_bytes`` caps the database file (SQLite's
    ``max_page_count``): a write beyond it fails like a full disk. ``clock`` returns aware UTC
    datetimes. Call :meth:`open` first; every method works (or fails cleanly) without it.
    """

    def __init__(
        self,
        path: Path,
        keep_days: float,
        *,
        max_bytes: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.path = path
        self.keep_days = keep_days
        self.max_bytes = max_bytes
        self.clock = clock
        self.errors = 0
        self.last_error: str | None = None
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._failing = False
        self._next_open = 0.0

    @property
    def ok(self) -> bool:
        """True while the database is open and the last write succeeded."""
        return self._db is not None and not self._failing

    def open(self) -> bool:
        """Open (creating directories, file and schema) and return True; False on failure.

        A failure is counted and logged like a failed write.
        """
        with self._lock:
            return self._open_locked()

    def _open_locked(self) -> bool:
        if self._db is not None:
            return True
        self._next_open = time.monotonic() + REOPEN_INTERVAL
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA busy_timeout=5000")
                if self.max_bytes is not None:
                    page = int(db.execute("PRAGMA page_size").fetchone()[0])
                    db.execute(f"PRAGMA max_page_count={max(8, self.max_bytes // page)}")
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                db.close()
                raise
        except (sqlite3.Error, OSError) as exc:
            self._failed("open", exc)
            return False
        self._db = db
        log.info("history at %s (keeping %g days)", self.path, self.keep_days)
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{what} {self.path}: {exc}"
        if self._failing:
            log.debug("history %s failed again: %s", what, exc)
        else:
            self._failing = True
            log.error(
                "history %s failed (%s); entries are dropped and counted until it works again",
                self.last_error,
                type(exc).__name__,
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("history %s is writable again", self.path)

    def add(self, entries: Iterable[HistoryEntry]) -> int:
        """Write ``entries`` in one transaction; return how many were written (0 on failure).

        Never raises for disk or database errors: they are counted in :attr:`errors`.
        """
        rows = [
            (
                e.session_id,
                e.host,
                e.repo,
                e.reap_reason,
                _ts(e.reaped_at),
                e.model_dump_json(),
            )
            for e in entries
        ]
        if not rows:
            return 0
        with self._lock:
            if self._db is None and (time.monotonic() < self._next_open or not self._open_locked()):
                self.errors += 1
                return 0
            assert self._db is not None
            try:
                with self._db:  # commits, or rolls back on error
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT INTO reaped_sessions "
                        "(session_id, host, repo, reap_reason, reaped_at, entry) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        rows,
                    )
            except (sqlite3.Error, OSError) as exc:
                self._failed("write to", exc)
                return 0
            self._recovered()
            return len(rows)

    def prune(self) -> int:
        """Delete rows reaped more than ``keep_days`` ago; return how many (0 on failure)."""
        cutoff = self.clock() - timedelta(days=self.keep_days)
        with self._lock:
            if self._db is None:
                return 0
            try:
                cur = self._db.execute(
                    "DELETE FROM reaped_sessions WHERE reaped_at < ?", (_ts(cutoff),)
                )
            except (sqlite3.Error, OSError) as exc:
                self._failed("prune of", exc)
                return 0
            return cur.rowcount

    def _where(
        self,
        host: str | None,
        repo: str | None,
        since: datetime | None,
        until: datetime | None,
        session_id: str | None = None,
    ) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        for column, value in (("host", host), ("repo", repo), ("session_id", session_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            clauses.append("reaped_at >= ?")
            args.append(_ts(since))
        if until is not None:
            clauses.append("reaped_at < ?")
            args.append(_ts(until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args

    def _read(self, sql: str, args: list[object]) -> list[tuple[object, ...]]:
        with self._lock:
            if self._db is None and (time.monotonic() < self._next_open or not self._open_locked()):
                raise HistoryUnavailableError(f"history unavailable: {self.last_error}")
            assert self._db is not None
            try:
                return list(self._db.execute(sql, args))
            except sqlite3.Error as exc:
                raise HistoryUnavailableError(f"history read failed: {exc}") from exc

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

        ``limit`` and ``offset`` count entries. Raises ``HistoryUnavailableError``.
        """
        where, args = self._where(host, repo, since, until)
        total_row = self._read(f"SELECT COUNT(*) FROM reaped_sessions{where}", args)
        total = int(str(total_row[0][0]))
        rows = self._read(
            f"SELECT entry FROM reaped_sessions{where} ORDER BY reaped_at DESC, id DESC "
            "LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        items = [HistoryEntry.model_validate_json(str(r[0])) for r in rows]
        end = offset + len(items)
        return HistoryPage(
            items=items,
            total=total,
            offset=offset,
            limit=limit,
            next_offset=end if end < total else None,
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
        """Return the newest entry of ``session_id`` (on ``host`` if given), or None."""
        where, args = self._where(host, None, None, None, session_id=session_id)
        rows = self._read(
            f"SELECT entry FROM reaped_sessions{where} ORDER BY reaped_at DESC, id DESC LIMIT 1",
            args,
        )
        return HistoryEntry.model_validate_json(str(rows[0][0])) if rows else None

    def close(self) -> None:
        """Close the database (further writes reopen it)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
