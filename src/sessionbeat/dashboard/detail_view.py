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
_POWERSHELL_QUOTES = re.compile("(['\u2018\u2019\u201a\u201b])")
"""The characters PowerShell's tokenizer reads as a single quote: ASCII and typographic."""


def is_windows_path(cwd: str) -> bool:
    r"""Return True for a Windows folder: a drive letter (``C:\``, ``d:/``) or a UNC share."""
    return bool(_WINDOWS_PATH.match(cwd))


def powershell_quote(text: str) -> str:
    """Return ``text`` as one PowerShell single-quoted string (about_Quoting_Rules).

    Nothing is expanded inside single quotes; a quote character is written twice, including
    the typographic ones (U+2018-U+201B) that PowerShell also ends a string with.
    """
    return "'" + _POWERSHELL_QUOTES.sub(r"\1\1", text) + "'"


def resume_command(session_id: str, cwd: str | None) -> str:
    """Return the one line that resumes a session on its host, quoted for that host's shell.

    Claude Code keeps transcripts per launch directory (``~/.claude/projects/<encoded cwd>``,
    docs/claude-code-formats.md section 3.1), so ``claude --resume <id>`` must run there. The
    folder's form decides the shell: a Windows folder (:func:`is_windows_path`) gives a
    PowerShell line, ``Set-Location -LiteralPath '<cwd>' -ErrorAction Stop; claude --resume
    '<id>'`` (:func:`powershell_quote`; Windows PowerShell 5.1 and PowerShell 7; not cmd.exe);
    anything else a POSIX shell line, ``cd '<cwd>' && claude --resume <id>`` (``shlex.quote``;
    sh, bash, zsh; not fish). Either way a folder that is gone stops the line before
    ``claude`` runs elsewhere, and no folder or id can end its quoted string: parsing the line
    gives back exactly the cwd and the id. Without a cwd: ``claude --resume <id>``.
    """
    if not cwd:
        return f"claude --resume {shlex.quote(session_id)}"
    if is_windows_path(cwd):
        return (
            f"Set-Location -LiteralPath {powershell_quote(cwd)} -ErrorAction Stop; "
            f"claude --resume {powershell_quote(session_id)}"
        )
    end = "-- " if cwd.startswith("-") else ""  # a folder, not an option of cd
    return f"cd {end}{shlex.quote(cwd)} && claude --resume {shlex.quote(session_id)}"


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
