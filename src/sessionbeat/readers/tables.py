"""The rich tables the readers print: live sessions, history, one session's facts, notifications.

Each function takes API models (:mod:`sessionbeat.models`) and returns a ``rich.table.Table``
(typed ``Any``: rich is imported lazily, the CLI's start-up does not pay for it). Every cell
goes through :func:`add_row`: wire text is cleaned (``render.safe_text``) and never read as
rich markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessionbeat.models import SessionStatus, utc_now
from sessionbeat.readers.branchmates import branch_mates
from sessionbeat.readers.render import (
    NOTIFY_HINT,
    SHORT_ID,
    STATUS_STYLES,
    ago,
    ago_since,
    claude_label,
    duration,
    notify_failing,
    percent,
    safe_text,
    short_id,
    status_label,
    status_reason,
    tmux_command,
)

if TYPE_CHECKING:
    from datetime import datetime

    from sessionbeat.models import (
        HistoryEntry,
        HistoryPage,
        NotifyStatus,
        SessionDetail,
        SessionView,
    )

RESULTS = (
    "sent",
    "failed",
    "retried",
    "withdrawn",
    "withdraw_failed",
    "followup",
    "filtered",
    "cancelled",
)
"""Columns of the notification counts, in this order (``NotifyStatus.counts``' results)."""


def add_row(table: Any, *cells: Any) -> None:
    """Add a row to a rich table: each ``str`` cell as plain, cleaned text, others as given.

    A string becomes ``rich.text.Text(safe_text(cell))``: no control or bidi character reaches
    the terminal, and ``[bold]`` or ``[link=...]`` in a task is shown as typed, not as markup.
    """
    from rich.text import Text

    table.add_row(*(Text(safe_text(c)) if isinstance(c, str) else c for c in cells))


def doing(view: SessionView) -> str:
    """Return the task, with the tool in use first while working or awaiting approval."""
    busy = view.status in (SessionStatus.WORKING, SessionStatus.NEEDS_APPROVAL)
    parts = [p for p in (view.tool if busy else None, view.task) if p]
    return " · ".join(parts) or "-"


def status_cell(view: SessionView) -> str:
    """Return the status label, with how long it has waited for approval when it has."""
    label = status_label(view.status.value)
    if view.waiting_seconds is not None:
        label += f" {duration(view.waiting_seconds)}"
    return label


def sessions_table(views: list[SessionView], everyone: list[SessionView] | None = None) -> Any:
    """Return the live sessions table: host, repo, id, status, tool · task, context, activity.

    A session sharing its repo and branch with other live ones (counted among ``everyone``,
    default ``views``) gets ``(2 on branch)`` after its repo, with the branch's name.
    """
    from rich.table import Table
    from rich.text import Text

    labels = [status_cell(v) for v in views]
    mates = branch_mates(everyone if everyone is not None else views)
    table = Table(box=None, pad_edge=False, header_style="bold")
    # Status, id, context and age stay on one line; repo and host give way first (ellipsis),
    # and what the session is doing folds onto more lines.
    table.add_column("HOST", overflow="ellipsis", max_width=16)
    table.add_column("REPO", overflow="ellipsis", max_width=22)
    table.add_column("ID", no_wrap=True, min_width=SHORT_ID)
    table.add_column(
        "STATUS", no_wrap=True, min_width=max((len(label) for label in labels), default=6)
    )
    table.add_column("TOOL · TASK", overflow="fold")
    table.add_column("CTX", no_wrap=True, justify="right", min_width=4)
    table.add_column("ACTIVE", no_wrap=True, min_width=9)
    for v, label in zip(views, labels, strict=True):
        active = v.idle_seconds if v.idle_seconds is not None else v.last_seen_seconds
        shared = mates.get((v.host, v.session_id))
        repo: Any = v.repo or "-"
        if shared:
            repo = Text(safe_text(v.repo or "-"))
            repo.append(f" ({shared} on {safe_text(v.branch or '')})", style="bold yellow")
        add_row(
            table,
            v.host,
            repo,
            short_id(v.session_id),
            Text(label, style=STATUS_STYLES.get(v.status.value, "")),
            doing(v),
            percent(v.context_pct),
            ago(active),
        )
    return table


def history_table(page: HistoryPage) -> Any:
    """Return one page of reaped sessions: last status, why, when reaped, length, task."""
    from rich.table import Table

    now = utc_now()
    table = Table(box=None, pad_edge=False, header_style="bold")
    # As in the live table: status, id and times stay on one line; host and repo give way.
    table.add_column("HOST", overflow="ellipsis", max_width=16)
    table.add_column("REPO", overflow="ellipsis", max_width=22)
    table.add_column("ID", no_wrap=True, min_width=SHORT_ID)
    table.add_column("LAST STATUS", no_wrap=True)
    table.add_column("WHY", overflow="fold")
    table.add_column("REAPED", no_wrap=True)
    table.add_column("LENGTH", no_wrap=True)
    table.add_column("TASK", overflow="fold")
    for e in page.items:
        end = e.last_activity_at or e.reaped_at
        length = (end - e.started_at).total_seconds() if e.started_at else None
        why = e.reap_reason + (f" ({e.end_reason})" if e.end_reason else "")
        add_row(
            table,
            e.host,
            e.repo or "-",
            short_id(e.session_id),
            status_label(e.status.value),
            why,
            ago_since(e.reaped_at, now),
            duration(length),
            e.task or "-",
        )
    return table


def facts_table(item: SessionDetail | HistoryEntry) -> Any:
    """Return a two-column table of everything known about one session (live or reaped)."""
    from rich.table import Table

    from sessionbeat.models import HistoryEntry

    now = utc_now()
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = [
        ("session", item.session_id),
        ("host", item.host),
        ("repo", item.repo or "-"),
        ("branch", item.branch or "-"),
        ("directory", item.cwd or "-"),
        ("model", item.model or "-"),
        ("status", status_label(item.status.value)),
        ("task", item.task or "-"),
    ]
    if isinstance(item, HistoryEntry):
        rows += [
            ("reaped", f"{ago_since(item.reaped_at, now)} ({item.reap_reason})"),
            ("end reason", item.end_reason or "-"),
        ]
    else:
        rows += [
            ("tool", item.tool or "-"),
            ("subagents", str(item.subagents)),
            ("context", percent(item.context_pct)),
            ("last seen", ago(item.last_seen_seconds)),
            ("age", duration(item.age_seconds)),
        ]
        if item.waiting_seconds is not None:
            rows.append(("waiting", duration(item.waiting_seconds)))
        if item.detail:
            rows.append(("detail", item.detail))
        rows.append(
            (
                "status from",
                status_reason(
                    item.status_source.value,
                    item.event,
                    item.last_activity_at,
                    item.registry_status,
                    item.registry_status_at,
                    item.waiting_for,
                ),
            )
        )
        claude = claude_label(item.claude_version, item.entrypoint, item.headless)
        rows.append(("claude code", claude))
        if item.tmux:
            rows.append(("tmux", tmux_command(item.tmux)))
    rows += [
        ("started", ago_since(item.started_at, now)),
        ("transcript", item.transcript_path or "-"),
    ]
    for name, value in rows:
        add_row(table, name, value)
    return table


def timeline_table(item: SessionDetail | HistoryEntry) -> Any:
    """Return a session's status changes, oldest first (aggregator clock, local time)."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("AT (UTC)", "STATUS", "EVENT"):
        table.add_column(name)
    for change in item.timeline:
        add_row(
            table,
            change.at.strftime("%Y-%m-%d %H:%M:%S"),
            status_label(change.status.value),
            change.event or "-",
        )
    return table


def _when(moment: datetime | None, now: datetime) -> str:
    """Return ``"2025-06-01 14:02:00 UTC (3 min ago)"``, ``"-"`` for None."""
    if moment is None:
        return "-"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({ago_since(moment, now)})"


def notify_facts_table(status: NotifyStatus) -> Any:
    """Return the notifier at a glance: on or off, kinds, grace, quiet hours, last send, errors.

    Off shows how to turn it on; each invalid URL (secrets already hidden by the aggregator) is
    a row of its own. The last error says ``the last delivery failed`` when it is newer than
    the last send (:func:`~sessionbeat.readers.render.notify_failing`).
    """
    from rich.table import Table

    now = utc_now()
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, str]] = []
    if not status.enabled:
        rows.append(("notifications", f"off ({NOTIFY_HINT})"))
    else:
        latency = (
            f"{status.latency_sum / status.latency_count:.1f} s mean over "
            f"{status.latency_count} deliveries"
            if status.latency_count
            else "-"
        )
        error = status.last_error or "-"
        if status.last_error is not None and status.last_error_at is not None:
            error += f", {_when(status.last_error_at, now)}"
        if notify_failing(status):
            error += ": the last delivery failed"
        rows += [
            ("notifications", "on"),
            ("kinds", ", ".join(k.value for k in status.kinds) or "-"),
            ("grace", duration(status.grace_seconds)),
            ("quiet hours", "now" if status.quiet_now else "no"),
            ("pending", str(status.pending)),
            ("last sent", _when(status.last_sent_at, now)),
            ("last error", error),
            ("latency", latency),
        ]
    rows += [("invalid URL", url) for url in status.invalid]
    for name, value in rows:
        add_row(table, name, value)
    return table


def notify_targets_table(status: NotifyStatus) -> Any:
    """Return one row per notification service: redacted URL, withdraw, last result and error."""
    from rich.table import Table

    now = utc_now()
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("SERVICE", no_wrap=True)
    table.add_column("URL", overflow="fold")
    table.add_column("WITHDRAW", no_wrap=True)
    table.add_column("LAST", no_wrap=True)
    table.add_column("WHEN", no_wrap=True)
    table.add_column("ERROR", overflow="fold")
    for t in status.targets:
        add_row(
            table,
            t.service,
            t.url,
            "yes" if t.withdraw else "no",
            t.last_result or "-",
            ago_since(t.last_at, now),
            t.last_error or "-",
        )
    return table


def notify_counts_table(status: NotifyStatus) -> Any:
    """Return notifications by kind (rows) and result (columns: those that occurred)."""
    from rich.table import Table

    seen = {r for results in status.counts.values() for r in results}
    columns = [r for r in RESULTS if r in seen] + sorted(seen - set(RESULTS))
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("KIND", no_wrap=True)
    for result in columns:
        table.add_column(result.upper(), justify="right", no_wrap=True)
    for kind, results in sorted(status.counts.items()):
        add_row(table, kind, *(str(results.get(r, 0)) for r in columns))
    return table
