"""Plain-text rendering shared by the CLI readers (``sessions``, ``tail``): no I/O, no rich.

Status words with an icon, "2 min ago" ages, short session ids, context percentages, and how
to read the push notifier's state (:func:`notify_failing`). Kept apart from the commands so
that the wording is the same everywhere (the page uses it too) and testable alone.

Text from the wire (a cwd, a repo, a task...) is written by whoever holds a host's broker
credentials; ``safe_text`` (:mod:`sessionbeat.text`, imported here for the readers) makes it
inert before any terminal or the page shows it; ``duration`` comes from there too.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta, tzinfo

from sessionbeat.models import NotifyStatus
from sessionbeat.text import UNSAFE_CHARACTERS
from sessionbeat.text import duration as duration  # re-exported: the readers' and page's
from sessionbeat.text import safe_text as safe_text  # re-exported: the readers' and page's

STATUS_ICONS = {
    "needs_approval": "⚠",
    "working": "●",
    "waiting_for_input": "○",
    "unknown": "·",
    "idle": "◌",
    "stale": "?",
    "offline": "✕",
    "unreachable": "◇",
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
    "unreachable": "yellow",
    "ended": "dim",
    "online": "green",
    "removed": "dim",
}
"""A rich style per status, for terminals that show colour."""

SHORT_ID = 8
"""Characters of a session id shown in tables and tail lines."""

_JSON_UNSAFE = re.compile("[" + re.escape("".join(c for c in UNSAFE_CHARACTERS if c != "\n")) + "]")


def json_safe(text: str) -> str:
    r"""Return JSON text with every control and bidi character as a ``\uXXXX`` escape.

    ``text`` is JSON as ``json.dumps`` or pydantic write it: such characters occur raw only
    inside strings, except the line breaks of indentation, which are kept. The result parses to
    the same data (``--json`` output stays exactly the API's), and prints inertly.
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def status_label(status: str) -> str:
    """Return ``"<icon> <words>"``, e.g. ``"⚠ needs approval"`` for ``needs_approval``."""
    return f"{STATUS_ICONS.get(status, '·')} {status.replace('_', ' ')}"


def short_id(session_id: str) -> str:
    """Return the first :data:`SHORT_ID` characters of a session id."""
    return session_id[:SHORT_ID]


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


def clock_time(moment: datetime | None, tz: tzinfo = UTC) -> str:
    """Return a moment as ``HH:MM:SS.mmm`` in ``tz`` (``"-"`` for None)."""
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    return f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}"


def status_reason(
    source: str,
    event: str | None,
    last_event_at: datetime | None,
    registry_status: str | None,
    registry_status_at: datetime | None,
    waiting_for: str | None = None,
    tz: tzinfo = UTC,
) -> str:
    """Say which observation decided a status and what the other source said last.

    E.g. ``"hook PermissionRequest at 14:16:06.551 (registry: busy at 14:16:05.295)"`` or
    ``"registry busy at 14:16:10.315 (last hook: PermissionRequest at 14:16:06.551)"``:
    the newest observation decides (docs/architecture.md). Times are shown in ``tz``.
    """
    registry = None
    if registry_status:
        wait = f" ({waiting_for})" if waiting_for else ""
        registry = f"{registry_status}{wait} at {clock_time(registry_status_at, tz)}"
    hook = f"{event} at {clock_time(last_event_at, tz)}" if event else None
    if source == "registry" and registry:
        return f"registry {registry}" + (f" (last hook: {hook})" if hook else "")
    text = f"hook {hook}" if hook else "hook"
    return text + (f" (registry: {registry})" if registry else "")


def claude_label(version: str | None, entrypoint: str | None, headless: bool) -> str:
    """Return e.g. ``"2.1.328 · headless (sdk-cli)"`` or ``"2.1.328 · cli"`` (``"-"``: none)."""
    parts = [version] if version else []
    if headless:
        parts.append(f"headless ({entrypoint})")
    elif entrypoint:
        parts.append(entrypoint)
    return " · ".join(parts) or "-"


def tmux_command(target: str) -> str:
    """Return the command that jumps to a session's tmux pane (Claude Code's ``tmux`` field).

    ``target`` is ``session:@window.%pane`` as the registry writes it; ``tmux attach -t``
    selects that window and pane (from inside tmux, ``tmux switch-client -t`` does the same).
    """
    return f"tmux attach -t {shlex.quote(target)}"


NOTIFY_VAR = "SESSIONBEAT_NOTIFY_URLS"
"""The setting that turns push notifications on (Apprise URLs, comma-separated)."""

NOTIFY_HINT = f"set {NOTIFY_VAR}"
"""What turns push notifications on, said wherever they are shown off."""


def notify_failing(status: NotifyStatus) -> bool:
    """Return True when the notifier's last delivery failed: an error newer than the last send.

    An error with no time, or with nothing sent yet, counts as the last thing that happened.
    """
    if status.last_error is None:
        return False
    if status.last_sent_at is None or status.last_error_at is None:
        return True
    return status.last_error_at > status.last_sent_at


def notify_services(status: NotifyStatus) -> list[str]:
    """Return the notifier's services (``ntfy``, ``json``...), each once, in the order set."""
    return list(dict.fromkeys(t.service for t in status.targets))
