"""The history's one table, as SQLAlchemy Core metadata shared by SQLite and PostgreSQL.

``reaped_sessions`` holds one row per reaped life of a session: the whole
:class:`~sessionbeat.models.HistoryEntry` as JSON (``entry``) plus the columns the API filters
on (host, repo, reaped_at as UTC epoch seconds), each indexed, and ``life``, which with host and
session_id makes the unique key :data:`LIFE_INDEX`. Two aggregators reaping the same life (a
lease handover that overlaps) write the same key, and the second ``INSERT`` does nothing: every
reaped life is written exactly once (docs/architecture.md, "History").

:func:`ensure_schema` creates what is missing (``MetaData.create_all`` with ``checkfirst``) and
brings a SQLite file made before the key existed up to date: it adds the ``life`` column, fills
it from each row's JSON, deletes the duplicates (the oldest row of each life is kept) and
creates the unique index. There is no other migration yet.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    inspect,
    select,
    text,
    update,
)

from sessionbeat.models import HistoryEntry

SCHEMA_VERSION = 2
"""Version of the table's shape (SQLite's ``PRAGMA user_version``): 2 added ``life``."""

metadata = MetaData()
"""The history's metadata: the one table :data:`reaped_sessions` and its indexes."""

reaped_sessions = Table(
    "reaped_sessions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("session_id", String, nullable=False),
    Column("host", String, nullable=False),
    Column("repo", String),
    Column("reap_reason", String, nullable=False),
    Column("reaped_at", Double, nullable=False),
    Column("life", String, nullable=False, server_default=""),
    Column("entry", Text, nullable=False),
    Index("reaped_sessions_host", "host", "reaped_at"),
    Index("reaped_sessions_repo", "repo", "reaped_at"),
    Index("reaped_sessions_reaped_at", "reaped_at"),
    Index("reaped_sessions_session", "session_id", "reaped_at"),
    sqlite_autoincrement=True,
)
"""One row per reaped life of a session; ``reaped_at`` in UTC epoch seconds."""

LIFE_KEY = ("host", "session_id", "life")
"""The columns that identify one reaped life of a session (unique together)."""

LIFE_INDEX = Index("reaped_sessions_life", *(reaped_sessions.c[c] for c in LIFE_KEY), unique=True)
"""The unique index that makes a second write of the same life do nothing."""


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).isoformat()


def life(entry: HistoryEntry) -> str:
    """Return what tells this life of ``entry``'s session from its others, as text.

    Its start and its last activity (UTC ISO 8601, empty when unknown), both copied from the
    session's last beat: every aggregator that reaps the same life sees the same two, while a
    session resumed after being reaped has had new activity since, so its next life differs.
    The reap time and reason are not part of it (each aggregator has its own clock, and one may
    reap ``ended`` while another records ``cleared``).
    """
    return f"{_iso(entry.started_at)}|{_iso(entry.last_activity_at)}"


def to_row(entry: HistoryEntry) -> dict[str, Any]:
    """Return the ``reaped_sessions`` row of ``entry`` (without ``id``), keyed by column."""
    return {
        "session_id": entry.session_id,
        "host": entry.host,
        "repo": entry.repo,
        "reap_reason": entry.reap_reason,
        "reaped_at": entry.reaped_at.astimezone(UTC).timestamp(),
        "life": life(entry),
        "entry": entry.model_dump_json(),
    }


def ensure_schema(conn: Connection) -> None:
    """Create the table and indexes if missing, and give an older table its unique key.

    Runs inside the caller's transaction on ``conn``. A table without ``life`` (a SQLite file of
    schema 1) gets the column, filled from each row's JSON, its duplicate lives removed (keeping
    the first written) and :data:`LIFE_INDEX`. Raises ``sqlalchemy.exc.SQLAlchemyError``.
    """
    metadata.create_all(conn, checkfirst=True)
    columns = {c["name"] for c in inspect(conn).get_columns(reaped_sessions.name)}
    if "life" not in columns:
        conn.execute(text("ALTER TABLE reaped_sessions ADD COLUMN life TEXT NOT NULL DEFAULT ''"))
        t = reaped_sessions
        rows = conn.execute(select(t.c.id, t.c.entry)).all()
        if rows:
            conn.execute(
                update(t).where(t.c.id == bindparam("row_id")).values(life=bindparam("row_life")),
                [
                    {"row_id": r.id, "row_life": life(HistoryEntry.model_validate_json(r.entry))}
                    for r in rows
                ],
            )
    if not inspect(conn).has_index(reaped_sessions.name, "reaped_sessions_life"):
        t = reaped_sessions
        first = select(func.min(t.c.id)).group_by(*(t.c[c] for c in LIFE_KEY))
        conn.execute(delete(t).where(t.c.id.not_in(first)))
        LIFE_INDEX.create(conn, checkfirst=True)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
