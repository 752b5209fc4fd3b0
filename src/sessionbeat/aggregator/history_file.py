"""The SQLite file under the history: opening it, and a corrupt one set aside.

:func:`connect` opens (creating directories and file) in WAL mode;
:func:`is_corrupt` tells SQLite's "damaged" and "not a database" errors from others (a full
disk, a lock); :func:`move_aside` renames a corrupt file and its ``-wal``/``-shm`` companions so
a fresh one can take its place while the old one is kept for inspection. Used by
:class:`~sessionbeat.aggregator.history.History`.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
"""SQLite's primary result codes for a damaged file and for a file that is not a database."""


def connect(path: Path, max_bytes: int | None = None) -> sqlite3.Connection:
    """Open the history database at ``path`` in WAL mode; return the connection.

    Creates missing directories and the file; the tables are made by
    :func:`~sessionbeat.aggregator.history_schema.ensure_schema`. ``max_bytes`` caps the file
    (SQLite's ``max_page_count``). The connection is shared between threads (the caller locks)
    and in the driver's autocommit mode (SQLAlchemy's ``begin`` event issues ``BEGIN``: see
    :func:`~sessionbeat.aggregator.history_engine.sqlite_engine`). Raises ``OSError`` or
    ``sqlite3.Error`` (``sqlite3.DatabaseError`` with :data:`CORRUPT_CODES` for a corrupt
    file: see :func:`is_corrupt`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        if max_bytes is not None:
            page = int(db.execute("PRAGMA page_size").fetchone()[0])
            db.execute(f"PRAGMA max_page_count={max(8, max_bytes // page)}")
    except BaseException:
        db.close()
        raise
    return db


def is_corrupt(exc: BaseException) -> bool:
    """Return True if ``exc`` is SQLite saying the file is damaged or not a database at all.

    ``exc`` may be the driver's ``sqlite3.DatabaseError`` or SQLAlchemy's wrapper of it (its
    ``orig``).
    """
    exc = getattr(exc, "orig", None) or exc
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.DatabaseError)
        and code is not None
        and (code & 0xFF) in (CORRUPT_CODES)
    )


def move_aside(path: Path, when: datetime) -> Path:
    """Rename the database ``path`` and its ``-wal``/``-shm`` files; return the new path.

    The new name is ``<name>.corrupt-<when as YYYYmmddTHHMMSSZ>`` in the same directory, with
    ``-1``, ``-2``... appended if taken. Raises ``OSError`` when a rename fails.
    """
    stem = f"{path.name}.corrupt-{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    target = path.with_name(stem)
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{stem}-{n}")
    if path.exists():
        path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target
