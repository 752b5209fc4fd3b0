"""The statements of the history, as SQLAlchemy Core: one query layer for SQLite and PostgreSQL.

Times are stored as UTC epoch seconds (``reaped_at``); each row's ``entry`` column holds a
:class:`~sessionbeat.models.HistoryEntry` as JSON. The table is
:data:`~sessionbeat.aggregator.history_schema.reaped_sessions`. The reads here run through a
``read`` callable, :class:`~sessionbeat.aggregator.history.History`'s locked and self-healing
executor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, Executable, Insert, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from sessionbeat.aggregator.history_schema import LIFE_KEY, reaped_sessions
from sessionbeat.models import HistoryEntry, HistoryPage

T = reaped_sessions

MAX_OFFSET = 2**63 - 1
"""The largest ``offset`` of :func:`page`: a 64-bit signed integer (SQLite's and PostgreSQL's)."""

Read = Callable[[Executable], Sequence[Any]]
"""Runs one SELECT and returns every row; may raise
:class:`~sessionbeat.errors.HistoryUnavailableError`."""


def ts(value: datetime) -> float:
    """Return an aware datetime as UTC epoch seconds, the unit of ``reaped_at``."""
    return value.astimezone(UTC).timestamp()


def insert(dialect: str) -> Insert:
    """Return the INSERT of rows (dicts by column) that skips a life already written.

    ``dialect`` is the engine's dialect name (``sqlite`` or ``postgresql``): both spell it
    ``INSERT ... ON CONFLICT (host, session_id, life) DO NOTHING``. Raises ``ValueError`` for
    another dialect.
    """
    if dialect == "postgresql":
        return postgresql.insert(T).on_conflict_do_nothing(index_elements=list(LIFE_KEY))
    if dialect == "sqlite":
        return sqlite.insert(T).on_conflict_do_nothing(index_elements=list(LIFE_KEY))
    raise ValueError(f"history on {dialect} is not supported (sqlite or postgresql)")


def prune(cutoff: datetime) -> Delete:
    """Return the DELETE of the rows reaped before ``cutoff``."""
    return delete(T).where(T.c.reaped_at < ts(cutoff))


def where(
    host: str | None,
    repo: str | None,
    since: datetime | None,
    until: datetime | None,
    session_id: str | None = None,
) -> list[ColumnElement[bool]]:
    """Return the conditions (empty when nothing filters), to be joined with AND.

    ``host``, ``repo`` and ``session_id`` match exactly; ``[since, until)`` bounds ``reaped_at``.
    """
    out: list[ColumnElement[bool]] = []
    for column, value in (("host", host), ("repo", repo), ("session_id", session_id)):
        if value is not None:
            out.append(T.c[column] == value)
    if since is not None:
        out.append(T.c.reaped_at >= ts(since))
    if until is not None:
        out.append(T.c.reaped_at < ts(until))
    return out


NEWEST_FIRST = (T.c.reaped_at.desc(), T.c.id.desc())
"""The order of every listing: newest reaped first, the later written first on a tie."""


def page(
    read: Read,
    *,
    limit: int,
    offset: int,
    host: str | None,
    repo: str | None,
    since: datetime | None,
    until: datetime | None,
) -> HistoryPage:
    """Read one page of entries reaped in ``[since, until)``, newest first, through ``read``.

    ``limit`` and ``offset`` count entries (``offset`` at most :data:`MAX_OFFSET`). Raises what
    ``read`` raises.
    """
    cond = where(host, repo, since, until)
    total = int(read(select(func.count()).select_from(T).where(*cond))[0][0])
    rows = read(select(T.c.entry).where(*cond).order_by(*NEWEST_FIRST).limit(limit).offset(offset))
    items = [HistoryEntry.model_validate_json(str(r[0])) for r in rows]
    end = offset + len(items)
    return HistoryPage(
        items=items,
        total=total,
        offset=offset,
        limit=limit,
        next_offset=end if end < total else None,
    )


def find(read: Read, session_id: str, host: str | None) -> HistoryEntry | None:
    """Read the newest entry of ``session_id`` (on ``host`` if given) through ``read``, or None.

    Raises what ``read`` raises.
    """
    cond = where(host, None, None, None, session_id=session_id)
    rows = read(select(T.c.entry).where(*cond).order_by(*NEWEST_FIRST).limit(1))
    return HistoryEntry.model_validate_json(str(rows[0][0])) if rows else None
