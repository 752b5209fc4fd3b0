"""What the live list holds: the overview's first page, a filtered page, and "Show more".

``GET /overview`` carries every session needing approval and the first page of the others
(docs/api.md). With no filter the list is that, plus, once "Show more" was pressed, the next
sessions from ``GET /sessions?all=true&cursor=<overview.next_cursor>``; with a host, repo or
status filter it is one page of ``GET /sessions?host=&repo=&status=&all=true``, the server
filtering. Each refresh asks again (live data: a page kept from an earlier refresh would go
stale), so what "Show more" keeps in ``st.session_state`` is how many more sessions were
asked for, per filter (reset when the filters change); the cursor is the one of this
refresh's overview. One ``GET /sessions`` at most per refresh, and none with no filter and no
"Show more".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import streamlit as st
from pydantic import ValidationError

from sessionbeat.dashboard.view import Filters
from sessionbeat.errors import ApiUnavailableError, NotFoundError, UnauthorizedError
from sessionbeat.models import Overview, SessionView
from sessionbeat.readers.client import PAGE_MAX, ApiClient

PAGE = 50
"""Sessions one press of "Show more" adds (and a filtered list's first page)."""

MORE_KEY = "sb_more"
"""``st.session_state`` key of ``(filter key, sessions asked for beyond the first page)``."""


@dataclass(frozen=True, slots=True)
class Listing:
    """The sessions the live list shows and what it knows of the rest.

    ``sessions``: in the API's order (needs-approval first); ``total``: the sessions matching
    the filters in the whole fleet (``X-Total-Count``, or the summary's counts); ``more``: a
    further page exists; ``by_status``: status -> sessions in the whole fleet, when known for
    these filters (None otherwise); ``error``: why the filtered page could not be read (the
    list then filters the overview's sessions on the page, and says so), else None.
    """

    sessions: list[SessionView]
    total: int
    more: bool
    by_status: dict[str, int] | None = None
    error: str | None = None

    @property
    def can_grow(self) -> bool:
        """True when "Show more" can add sessions (one request holds at most 1,000)."""
        return self.more and len(self.sessions) < PAGE_MAX


def _filter_key(filters: Filters) -> tuple[str | None, str | None, str | None]:
    return filters.host, filters.repo, filters.status.value if filters.status else None


def asked_more(filters: Filters) -> int:
    """Return how many sessions "Show more" asked for beyond the first page, for ``filters``.

    Zero (and the count reset) when the filters differ from those it was pressed under.
    """
    key = _filter_key(filters)
    kept = st.session_state.get(MORE_KEY)
    if kept is None or kept[0] != key:
        st.session_state[MORE_KEY] = (key, 0)
        return 0
    extra: int = kept[1]
    return extra


def show_more(filters: Filters) -> None:
    """Ask for :data:`PAGE` more sessions under ``filters`` (the button's callback)."""
    st.session_state[MORE_KEY] = (_filter_key(filters), asked_more(filters) + PAGE)


def server_filtered(filters: Filters) -> bool:
    """Return True when the server filters the list (a host, repo or status filter is set).

    The repo ``-`` (sessions outside a repository) has no server filter: the page filters.
    """
    return bool(filters.host or (filters.repo and filters.repo != "-") or filters.status)


def load_listing(api: ApiClient, overview: Overview, filters: Filters, live: bool) -> Listing:
    """Return the list for ``filters``: the overview's sessions, or a filtered server page.

    ``overview.sessions`` holds the approvals and the first page (the page's ``live``
    merges them); ``live`` False (the overview is kept data, the aggregator did not answer)
    asks nothing more. A failed or refused ``GET /sessions`` (an older aggregator without
    paging) falls back to filtering the overview's sessions, with ``error`` saying why.
    """
    extra = asked_more(filters)
    held = overview.sessions
    summary = overview.summary
    everything = sum(summary.by_status.values())
    if not live:
        return Listing(held, max(everything, len(held)), False, dict(summary.by_status))
    try:
        if server_filtered(filters):
            page = api.sessions_page(
                host=filters.host,
                repo=filters.repo if filters.repo != "-" else None,
                status=filters.status,
                all=True,
                limit=min(PAGE_MAX, PAGE + extra),
            )
            by_status = None
            if filters.status and not filters.host and not filters.repo:
                by_status = {filters.status.value: page.total}
            return Listing(page.items, page.total, page.next_cursor is not None, by_status)
        more = overview.next_cursor is not None
        if extra and overview.next_cursor is not None:
            room = max(1, min(PAGE_MAX - len(held), extra))
            page = api.sessions_page(all=True, cursor=overview.next_cursor, limit=room)
            held = merge(held, page.items)
            more = page.next_cursor is not None
    except (ApiUnavailableError, NotFoundError, UnauthorizedError, ValidationError) as exc:
        message = f"cannot read GET /sessions ({exc}); filtering the first page only"
        return Listing(held, len(held), False, None, message)
    return Listing(held, max(everything, len(held)), more, dict(summary.by_status))


def merge(*lists: Iterable[SessionView]) -> list[SessionView]:
    """Return the sessions of every list once (by host and id), first occurrence kept."""
    seen: set[tuple[str, str]] = set()
    out: list[SessionView] = []
    for views in lists:
        for view in views:
            key = (view.host, view.session_id)
            if key not in seen:
                seen.add(key)
                out.append(view)
    return out
