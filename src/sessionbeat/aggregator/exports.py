"""Session reports for download: JSON documents and readable Markdown.

Used by ``GET /sessions/{id}/export`` and ``GET /history/export`` (and through them by the
dashboard and ``sessionbeat sessions export``). A live session is exported as its
:class:`~sessionbeat.models.SessionDetail`, a reaped one as its
:class:`~sessionbeat.models.HistoryEntry`; the Markdown report has the same facts either way:
a heading, a table of facts (host, repo, branch, directory, model, status, times, context,
task) and the status timeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sessionbeat.models import ExportFormat, HistoryEntry, SessionDetail, StatusChange

Reportable = SessionDetail | HistoryEntry
"""A live session (with timeline) or a reaped one."""


def filename(stem: str, fmt: ExportFormat) -> str:
    """Return a safe download file name, e.g. ``session-abc.md`` (``stem`` is an id)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)
    return f"{safe}.{fmt.value}"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _context(tokens: int | None, window: int | None) -> str:
    if tokens is None:
        return "-"
    if window:
        return f"{tokens:,} of {window:,} tokens ({100.0 * tokens / window:.0f} %)"
    return f"{tokens:,} tokens"


def _timeline(changes: Iterable[StatusChange]) -> list[str]:
    rows = ["| time | status | hook event |", "| --- | --- | --- |"]
    rows += [f"| {_when(c.at)} | {c.status.value} | {_cell(c.event)} |" for c in changes]
    return rows


def session_markdown(item: Reportable) -> str:
    """Return a Markdown report of one session (live or reaped), ending with a newline."""
    title = item.repo or item.cwd or item.session_id
    facts: list[tuple[str, object]] = [
        ("session id", f"`{item.session_id}`"),
        ("host", item.host),
        ("repo", item.repo),
        ("branch", item.branch),
        ("directory", item.cwd),
        ("model", item.model),
        ("status", item.status.value),
        ("end reason", item.end_reason),
        ("started", _when(item.started_at)),
        ("last activity", _when(item.last_activity_at)),
    ]
    if isinstance(item, HistoryEntry):
        end = item.last_activity_at or item.reaped_at
        length = (end - item.started_at).total_seconds() if item.started_at else None
        facts += [
            ("reaped", f"{_when(item.reaped_at)} ({item.reap_reason})"),
            ("duration", _duration(length)),
        ]
    else:
        facts += [
            ("last seen", f"{_duration(item.last_seen_seconds)} ago"),
            ("age", _duration(item.age_seconds)),
            ("tool", item.tool),
            ("subagents", item.subagents),
        ]
    facts += [
        ("context", _context(item.context_tokens, item.context_window)),
        ("task", item.task),
        ("transcript", item.transcript_path),
    ]
    lines = [
        f"## {_cell(title)} on {item.host}",
        "",
        "| | |",
        "| --- | --- |",
        *(f"| {name} | {_cell(value)} |" for name, value in facts),
        "",
        "### Timeline",
        "",
        *_timeline(item.timeline),
        "",
    ]
    return "\n".join(lines)


def sessions_markdown(items: list[Reportable], heading: str) -> str:
    """Return a Markdown document: ``heading``, a count, then one report per session."""
    parts = [f"# {heading}", "", f"{len(items)} session{'s' if len(items) != 1 else ''}.", ""]
    parts += [session_markdown(item) for item in items]
    return "\n".join(parts)


def to_json(items: Reportable | list[Reportable]) -> str:
    """Return one session or a list of sessions as indented JSON (API field names)."""
    if isinstance(items, list):
        return json.dumps([json.loads(i.model_dump_json()) for i in items], indent=2) + "\n"
    return items.model_dump_json(indent=2) + "\n"
