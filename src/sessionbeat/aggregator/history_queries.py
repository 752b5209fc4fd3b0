"""The SQL of the history: its INSERT and prune statements, and the reads that decode rows.

Times are stored as UTC epoch seconds (``reaped_at REAL``); each row's ``entry`` column holds a
:class:`~sessionbeat.models.HistoryEntry` as JSON. The table and its indexes are created by
:func:`~sessionbeat.aggregator.history_file.connect`. The reads here run through a ``read``
callable, :class:`~sessionbeat.aggregator.history.History`'s locked and self-healing executor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sessionbeat.models import HistoryEntry, HistoryPage

INSERT = (
    "INSERT INTO reaped_sessions "
    "(session_id, host, repo, reap_reason, reaped_at, entry) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
"""Insert one row; its parameters are a :data:`~sessionbeat.aggregator.history_backlog.Row`."""

PRUNE = "DELETE FROM reaped_sessions WHERE reaped_at < ?"
"""Delete the rows reaped before the cutoff given as UTC epoch seconds (see :func:`ts`)."""

MAX_OFFSET = 2**63 - 1
"""The largest ``offset`` of :func:`page`: SQLite's largest INTEGER (64-bit signed)."""

Read = Callable[[str, list[object]], list[tuple[object, ...]]]
"""Runs one SELECT with its parameters and returns every row; may raise
:class:`~sessionbeat.errors.HistoryUnavailableError`."""


def ts(value: datetime) -> float:
    """Return an aware datetime as UTC epoch seconds, the unit of ``reaped_at``."""
    return value.astimezone(UTC).timestamp()


def where(
    host: str | None,
    repo: str | None,
    since: datetime | None,
    until: datetime | None,
    session_id: str | None = None,
) -> tuple[str, list[object]]:
    """Return the ``WHERE`` clause (empty when nothing filters) and its parameters.

    ``host``, ``repo`` and ``session_id`` match exactly; ``[since, until)`` bounds ``reaped_at``.
    """
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (("host", host), ("repo", repo), ("session_id", session_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        clauses.append("reaped_at >= ?")
        args.append(ts(since))
    if until is not None:
        clauses.append("reaped_at < ?")
        args.append(ts(until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


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
    clause, args = where(host, repo, since, until)
    total_row = read(f"SELECT COUNT(*) FROM reaped_sessions{clause}", args)
    total = int(str(total_row[0][0]))
    rows = read(
        f"SELECT entry FROM reaped_sessions{clause} ORDER BY reaped_at DESC, id DESC "
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


def find(read: Read, session_id: str, host: str | None) -> HistoryEntry | None:
    """Read the newest entry of ``session_id`` (on ``host`` if given) through ``read``, or None.

    Raises what ``read`` raises.
    """
    clause, args = where(host, None, None, None, session_id=session_id)
    rows = read(
        f"SELECT entry FROM reaped_sessions{clause} ORDER BY reaped_at DESC, id DESC LIMIT 1",
        args,
    )
    return HistoryEntry.model_validate_json(str(rows[0][0])) if rows else None
