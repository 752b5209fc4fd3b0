"""The session detail's pure parts: resume command, timeline, facts line, fields table."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo

from sessionbeat.dashboard.view import ago, esc, md
from sessionbeat.models import HistoryEntry, SessionView, StatusChange
from sessionbeat.readers.render import STATUS_ICONS, claude_label, status_reason

_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]|^\\\\")


def resume_command(session_id: str, cwd: str | None) -> str:
    """Return the shell lines that resume a session on its host.

    Claude Code keeps transcripts per launch directory (``~/.claude/projects/<encoded cwd>``,
    docs/claude-code-formats.md section 3.1), so ``claude --resume <id>`` must run there: a
    known ``cwd`` adds a ``cd`` line first (POSIX-quoted, or double-quoted for a Windows path).
    """
    resume = f"claude --resume {shlex.quote(session_id)}"
    if not cwd:
        return resume
    if _WINDOWS_PATH.match(cwd):
        return f'cd "{cwd}"\n{resume}'
    return f"cd {shlex.quote(cwd)}\n{resume}"


def timeline_lines(changes: Sequence[StatusChange], now: datetime, tz: tzinfo) -> str:
    """Return the status timeline as Markdown list lines, newest first, in the reader's zone.

    Each line: local clock time, status icon and words, the hook event, and how long ago. The
    page names the zone above the list (:func:`zone_name`).
    """
    lines = [
        f"- {c.at.astimezone(tz):%H:%M:%S} · {STATUS_ICONS.get(c.status.value, '·')} "
        f"{c.status.value.replace('_', ' ')}"
        + (f" ({md(c.event)})" if c.event else "")
        + f" · {ago(c.at, now)}"
        for c in reversed(changes)
    ]
    return "\n".join(lines) or "-"


def facts(record: SessionView | HistoryEntry, now: datetime, tz: tzinfo = UTC) -> str:
    """Return one line of facts the card leaves out.

    Start, folder, permission mode, pid, Claude Code's version (and "headless" for a run
    without a terminal), and what decided the status
    (:func:`sessionbeat.readers.render.status_reason`,
    times in ``tz``).
    """
    parts = []
    if record.started_at:
        parts.append(f"started {ago(record.started_at, now)}")
    if record.cwd:
        parts.append(f"in {record.cwd}")
    if isinstance(record, SessionView):
        if record.permission_mode:
            parts.append(f"mode {record.permission_mode}")
        if record.pid:
            parts.append(f"pid {record.pid}")
        if record.claude_version or record.entrypoint:
            label = claude_label(record.claude_version, record.entrypoint, record.headless)
            parts.append(f"Claude Code {label}")
        reason = status_reason(
            record.status_source.value,
            record.event,
            record.last_activity_at,
            record.registry_status,
            record.registry_status_at,
            record.waiting_for,
            tz,
        )
        parts.append(f"status from {reason} ({zone_name(tz)})")
    return " · ".join(parts)


def zone_name(tz: tzinfo) -> str:
    """Return a time zone's name for the reader: its IANA key (``Europe/Berlin``), or UTC."""
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else (tz.tzname(None) or "UTC")


def fields_table(fields: Mapping[str, object]) -> str:
    """Return an HTML table of field names and values (escaped; empty values as ``-``)."""
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{'-' if v is None or v == '' else esc(v)}</td></tr>"
        for k, v in fields.items()
    )
    return f'<table class="sb-fields">{rows}</table>'
