"""Plain-text rendering shared by the CLI readers (``sessions``, ``tail``): no I/O, no rich.

Status words with an icon, "2 min ago" ages, short session ids, context percentages. Kept
apart from the commands so that the wording is the same everywhere and testable alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

STATUS_ICONS = {
    "needs_approval": "⚠",
    "working": "●",
    "waiting_for_input": "○",
    "unknown": "·",
    "idle": "◌",
    "stale": "?",
    "offline": "✕",
    "ended": "■",
    "online": "▲",
    "removed": "-",
}
"""One icon per status (and per host state for ``tail``)."""

STATUS_STYLES = {
    "needs_approval": "bold yellow",
    "working": "green",
    "waiting_for_input": "cyan",
    "unknown": "white",
    "idle": "dim",
    "stale": "magenta",
    "offline": "red",
    "ended": "dim",
    "online": "green",
    "removed": "dim",
}
"""A rich style per status, for terminals that show colour."""

SHORT_ID = 8
"""Characters of a session id shown in tables and tail lines."""


def status_label(status: str) -> str:
    """Return ``"<icon> <words>"``, e.g. ``"⚠ needs approval"`` for ``needs_approval``."""
    return f"{STATUS_ICONS.get(status, '·')} {status.replace('_', ' ')}"


def short_id(session_id: str) -> str:
    """Return the first :data:`SHORT_ID` characters of a session id."""
    return session_id[:SHORT_ID]


def duration(seconds: float | None) -> str:
    """Return a compact duration: ``"45 s"``, ``"2 min"``, ``"3 h 05 min"``, ``"2 d 4 h"``.

    ``None`` gives ``"-"``.
    """
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def ago(seconds: float | None) -> str:
    """Return ``"2 min ago"`` (``"just now"`` under 5 s, ``"-"`` for None)."""
    if seconds is None:
        return "-"
    if seconds < 5:
        return "just now"
    return f"{duration(seconds)} ago"


def ago_since(moment: datetime | None, now: datetime) -> str:
    """Return how long before ``now`` a moment was, as :func:`ago` words."""
    if moment is None:
        return "-"
    return ago((now - moment).total_seconds())


def percent(value: float | None) -> str:
    """Return ``"65%"`` for 65.0 (rounded), ``"-"`` for None."""
    return "-" if value is None else f"{round(value)}%"


def parse_since(text: str, now: datetime) -> datetime:
    """Parse ``--since``: a duration back from ``now``, or an ISO 8601 time (naive means UTC).

    Durations are a number and a unit: ``90s``, ``30m``, ``12h``, ``7d``, ``2w``.
    Raises ``ValueError`` naming the accepted forms.
    """
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    value = text.strip()
    if value and value[-1] in units and value[:-1].replace(".", "", 1).isdigit():
        return now - timedelta(seconds=float(value[:-1]) * units[value[-1]])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"cannot read {text!r} as a time: use e.g. 30m, 12h, 7d or 2025-06-01T12:00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
