"""The history view's pure parts: its URL filters and the card of a reaped session."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sessionbeat.dashboard.view import COLOURS, ago, badge, context_bar, details, esc, place
from sessionbeat.models import HistoryEntry
from sessionbeat.readers.render import duration

PAGE_SIZE = 25
"""History entries per page."""

PERIODS = {
    "1h": ("last hour", 3600.0),
    "24h": ("last 24 h", 86400.0),
    "7d": ("last 7 days", 7 * 86400.0),
    "30d": ("last 30 days", 30 * 86400.0),
    "all": ("all", None),
}
"""History periods: URL value -> (label, seconds back from now, None for no bound)."""


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """The history view's filters: host, repo, a period back from now, a 0-based page."""

    host: str | None = None
    repo: str | None = None
    period: str = "24h"
    page: int = 0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> HistoryQuery:
        """Read the history filters from URL query parameters; bad values fall back."""
        period = query.get("period", "24h")
        page = query.get("page", "0")
        return cls(
            host=query.get("host") or None,
            repo=query.get("repo") or None,
            period=period if period in PERIODS else "24h",
            page=int(page) if page.isdigit() and len(page) < 7 else 0,
        )

    def to_query(self) -> dict[str, str]:
        """Return the query parameters of this view (``view=history``; defaults left out)."""
        query = {"view": "history", "host": self.host, "repo": self.repo}
        out = {k: v for k, v in query.items() if v}
        if self.period != "24h":
            out["period"] = self.period
        if self.page:
            out["page"] = str(self.page)
        return out

    def since(self, now: datetime) -> datetime | None:
        """Return the oldest ``reaped_at`` this period shows, or None for all time."""
        seconds = PERIODS[self.period][1]
        return None if seconds is None else now - timedelta(seconds=seconds)


def history_card(entry: HistoryEntry, now: datetime, link: str | None) -> str:
    """Return the HTML card of a reaped session; ``link`` is its detail URL (None: no link)."""
    e = esc
    where = place(entry.repo, entry.cwd, entry.session_id)
    branch = f" <span class='sb-small'>@{e(entry.branch)}</span>" if entry.branch else ""
    why = f"{entry.end_reason or entry.reap_reason}, reaped {ago(entry.reaped_at, now)}"
    lasted = ""
    if entry.started_at and entry.last_activity_at:
        lasted = (
            f" · lasted {duration((entry.last_activity_at - entry.started_at).total_seconds())}"
        )
    pct = (
        100.0 * entry.context_tokens / entry.context_window
        if entry.context_tokens is not None and entry.context_window
        else None
    )
    meta = [e(entry.host)] + ([e(entry.model)] if entry.model else [])
    return (
        f'<div class="sb-card" style="border-left-color:{COLOURS["ended"]}">'
        f'<div class="sb-head"><b>{e(where)}</b>{branch} {badge(entry.status.value)}</div>'
        f'<div class="sb-doing">{e(entry.task or "")} '
        f"<span class='sb-small'>({e(why)}{lasted})</span></div>"
        f"{context_bar(pct)}"
        f'<div class="sb-small">{" · ".join(meta)}{details(link)}</div></div>'
    )
