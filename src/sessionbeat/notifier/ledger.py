"""What the notifier sent, kept in the aggregator's SQLite history file (stdlib ``sqlite3``).

Table ``notify_episodes``: one row per sent episode (kind, host, session_id, marker, batch id,
opened/sent/closed times as Unix seconds). A row is written **before** its message is delivered,
so a crash between the two loses at most one message and never repeats one. At start the
notifier reads back the rows still open (:meth:`Ledger.open_episodes`), which is how an
aggregator restart sends nothing twice (:mod:`sessionbeat.notifier.rules`). Rows older than
``keep_days`` are deleted.

The ledger shares the history's file (its own connection, WAL mode) but not its fate: when the
file cannot be opened or written, the notifier logs it once and goes on in memory (a restart may
then repeat a message; nothing else is lost). Thread-safe: one connection behind a lock.
When the history is a shared PostgreSQL database (``history_url``), the ledger keeps this SQLite
file at ``history_path`` to itself: it is one aggregator's memory of what it sent.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from sessionbeat.models import NotifyKind
from sessionbeat.notifier.rules import Episode, StoredEpisode

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_episodes (
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    session_id TEXT NOT NULL,
    marker TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    opened_at REAL NOT NULL,
    sent_at REAL NOT NULL,
    closed_at REAL,
    PRIMARY KEY (kind, host, session_id, marker, opened_at)
);
CREATE INDEX IF NOT EXISTS notify_episodes_open ON notify_episodes (closed_at, sent_at);
"""

NO_SESSION = ""
"""``session_id`` stored for a host's episode (the column is NOT NULL: part of the key)."""


def _ts(moment: datetime) -> float:
    return moment.timestamp()


class Ledger:
    """The sent episodes at ``path`` (the history file); ``keep_days`` bounds what is kept."""

    def __init__(self, path: Path, keep_days: float = 30.0) -> None:
        self.path = path
        self.keep_days = keep_days
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._failing = False
        self.ok = True
        """False while the file cannot be used (the notifier then works from memory)."""

    def open(self) -> None:
        """Open (create) the table; on failure log once and stay in memory."""
        with self._lock:
            self._ensure()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _ensure(self) -> sqlite3.Connection | None:
        if self._db is not None:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            self._failed("open", exc)
            return None
        self._db = db
        return db

    def _failed(self, what: str, exc: BaseException) -> None:
        self.ok = False
        if self._db is not None:
            self._db.close()
            self._db = None
        if not self._failing:
            self._failing = True
            log.warning(
                "cannot %s the notification ledger in %s (%s): going on in memory; "
                "a restart may repeat a notification",
                what,
                self.path,
                exc,
            )

    def _run(self, what: str, sql: str, rows: Iterable[tuple[object, ...]]) -> None:
        with self._lock:
            db = self._ensure()
            if db is None:
                return
            try:
                db.execute("BEGIN")
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except (OSError, sqlite3.Error) as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                self._failed(what, exc)
                return
            if self._failing:
                self._failing = False
                log.info("the notification ledger in %s works again", self.path)
            self.ok = True

    def record_sent(self, episodes: Iterable[Episode], sent_at: datetime) -> None:
        """Write the rows of ``episodes`` (just batched) as sent at ``sent_at``."""
        self._run(
            "write",
            "INSERT OR REPLACE INTO notify_episodes VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                (
                    ep.kind.value,
                    ep.host,
                    ep.session_id or NO_SESSION,
                    ep.marker,
                    ep.batch_id or "",
                    _ts(ep.opened_at),
                    _ts(sent_at),
                )
                for ep in episodes
            ],
        )

    def record_closed(self, episodes: Iterable[Episode | StoredEpisode], at: datetime) -> None:
        """Mark the rows of ``episodes`` closed at ``at``."""
        self._run(
            "write",
            "UPDATE notify_episodes SET closed_at = ? WHERE kind = ? AND host = ? "
            "AND session_id = ? AND marker = ? AND opened_at = ?",
            [
                (
                    _ts(at),
                    ep.kind.value,
                    ep.host,
                    ep.session_id or NO_SESSION,
                    ep.marker,
                    _ts(ep.opened_at),
                )
                for ep in episodes
            ],
        )

    def open_episodes(self, now: datetime) -> list[StoredEpisode]:
        """Return the sent episodes not closed yet, after deleting rows older than keep_days."""
        cutoff = _ts(now) - self.keep_days * 86400
        with self._lock:
            db = self._ensure()
            if db is None:
                return []
            try:
                db.execute("DELETE FROM notify_episodes WHERE sent_at < ?", (cutoff,))
                rows = db.execute(
                    "SELECT kind, host, session_id, marker, batch_id, opened_at "
                    "FROM notify_episodes WHERE closed_at IS NULL ORDER BY sent_at"
                ).fetchall()
            except (OSError, sqlite3.Error) as exc:
                self._failed("read", exc)
                return []
        out: list[StoredEpisode] = []
        for kind, host, session_id, marker, batch_id, opened_at in rows:
            try:
                out.append(
                    StoredEpisode(
                        NotifyKind(kind),
                        host,
                        session_id or None,
                        marker,
                        batch_id,
                        datetime.fromtimestamp(opened_at, UTC),
                    )
                )
            except ValueError:
                continue  # a kind of a newer version: not ours to reopen
        return out
