"""The Streamlit page: live sessions for a phone, session detail, history.

A thin client of the aggregator: the live part refreshes every :data:`REFRESH` seconds inside a
``st.fragment`` (the page itself is not reloaded) with ONE ``GET /overview`` call, whose size
does not grow with the fleet (every approval, the first page of the rest, the hosts that need a
look). A host, repo or status filter, or "Show more", adds one ``GET /sessions`` page, filtered
by the server (:mod:`sessionbeat.dashboard.listing`). An open session detail reuses the
overview and asks ``GET /sessions/{id}`` for the timeline only when the session changed, or
each refresh for a session beyond the overview's first page (see
:mod:`sessionbeat.dashboard.detail`); the list adds one ``GET /notify`` for the
push-notification line (:mod:`sessionbeat.dashboard.notify_view`). When the aggregator cannot
be reached the page says so and keeps showing the last data with its age. Filters live in the
URL query (:class:`~sessionbeat.dashboard.view.Filters`).
"""

from __future__ import annotations

import time
from datetime import timedelta

import streamlit as st
from pydantic import ValidationError

from sessionbeat.dashboard.common import client, link, show_cards, sync_query
from sessionbeat.dashboard.detail import detail, reader_zone
from sessionbeat.dashboard.history import history
from sessionbeat.dashboard.listing import Listing, load_listing, merge, show_more
from sessionbeat.dashboard.notify_view import notify_line
from sessionbeat.dashboard.style import CSS
from sessionbeat.dashboard.view import (
    HOSTS_SHOWN,
    SECTIONS,
    TITLES,
    Filters,
    Grouping,
    Section,
    esc,
    host_chip,
    live_layout,
)
from sessionbeat.errors import ApiUnavailableError, NotFoundError, UnauthorizedError
from sessionbeat.models import HostState, NotifyStatus, Overview, SessionStatus
from sessionbeat.readers.client import ApiClient
from sessionbeat.readers.render import duration, safe_text
from sessionbeat.settings import Settings, load_settings

REFRESH = 2.0
"""Seconds between live refreshes."""


def load_overview(api: ApiClient) -> tuple[Overview | None, str | None, float]:
    """Fetch ``GET /overview``; on failure fall back to the last one this browser tab got.

    Returns ``(overview or None, error message or None, age of the data in seconds)``. An
    aggregator without ``GET /overview`` (an older version) is reported like an unreachable
    one, with the advice to upgrade it.
    """
    try:
        overview = api.overview()
    except (ApiUnavailableError, NotFoundError) as exc:
        if isinstance(exc, NotFoundError):  # an aggregator from before GET /overview
            exc = ApiUnavailableError(f"{api.base_url} has no GET /overview: upgrade it")
        last = st.session_state.get("last_overview")
        if last is None:
            return None, str(exc), 0.0
        data, fetched = last
        return data, str(exc), time.monotonic() - fetched
    st.session_state["last_overview"] = (overview, time.monotonic())
    return overview, None, 0.0


def load_notify(api: ApiClient) -> NotifyStatus | None:
    """Fetch ``GET /notify``; None when it cannot be read (an older aggregator's 404 too).

    The line is a hint, never worth an error on the page: a failed request or an answer of
    another shape (another version's) means no line.
    """
    try:
        return api.notify_status()
    except (ApiUnavailableError, NotFoundError, UnauthorizedError, ValidationError):
        return None


def notify_caption(api: ApiClient) -> None:
    """Show the push-notification line (on, failing or off), or nothing if it cannot be read.

    As HTML text (:func:`~sessionbeat.dashboard.view.esc`), not Markdown: a URL in a service's
    error must not become a link.
    """
    line = notify_line(load_notify(api), reader_zone())
    if line is not None:
        st.markdown(f'<div class="sb-note">{esc(line)}</div>', unsafe_allow_html=True)


def controls(filters: Filters, overview: Overview) -> Filters:
    """Show the grouping switch and the filters; keep the URL in step. Returns the filters.

    The host choices are every host with a session (``summary.by_host``) and the hosts the
    page holds sessions of; the repo choices the repos of the sessions the page holds
    (``overview.sessions``), with the filter's own value kept.
    """
    sessions = overview.sessions
    hosts = sorted(
        {s.host for s in sessions}
        | set(overview.summary.by_host)
        | ({filters.host} if filters.host else set())
    )
    repos = sorted({s.repo or "-" for s in sessions} | ({filters.repo} if filters.repo else set()))
    group = (
        st.segmented_control(
            "Group by", [g.value for g in Grouping], default=filters.group.value, key="group"
        )
        or Grouping.STATUS.value
    )
    on = " (on)" if filters.host or filters.repo or filters.status else ""
    with st.expander("Filters" + on, key="filters"):
        host = st.selectbox(
            "Host",
            ["all", *hosts],
            key="f_host",
            index=1 + hosts.index(filters.host) if filters.host else 0,
        )
        repo = st.selectbox(
            "Repo",
            ["all", *repos],
            key="f_repo",
            format_func=safe_text,  # a repo name comes from the wire
            index=1 + repos.index(filters.repo) if filters.repo else 0,
        )
        status = st.selectbox(
            "Status",
            ["all", *(s.value for s in SECTIONS)],
            key="f_status",
            format_func=lambda s: TITLES.get(s, s),
            index=1 + SECTIONS.index(filters.status) if filters.status else 0,
        )
    chosen = Filters(
        host=None if host == "all" else host,
        repo=None if repo == "all" else repo,
        status=None if status == "all" else SessionStatus(status),
        group=Grouping(group),
    )
    sync_query(chosen.to_query())
    return chosen


def hosts_strip(overview: Overview) -> None:
    """Show a chip per host that needs a look, and the online rest folded into one count.

    ``GET /overview`` lists only the hosts that need a look (not online, or with a session
    awaiting approval); the others are online with nothing waiting: "▲ 1,998 more online"
    (``hosts_total`` minus those listed). More than ``HOSTS_SHOWN`` chips fold into an expander.
    """
    hosts, now = overview.hosts, overview.now
    shown = hosts[:HOSTS_SHOWN]
    chips = "".join(host_chip(h, now) for h in shown)
    rest = max(0, overview.hosts_total - len(hosts))
    if rest:
        chips += f'<span class="sb-chip">▲ {rest:,} more online</span>'
    if chips:
        st.markdown(chips, unsafe_allow_html=True)
    if len(shown) < len(hosts):
        with st.expander(f"{len(hosts) - len(shown)} more hosts need a look", key="hosts"):
            st.markdown(
                "".join(host_chip(h, now) for h in hosts[HOSTS_SHOWN:]), unsafe_allow_html=True
            )


def header(settings: Settings, overview: Overview | None, error: str | None, age: float) -> None:
    """Show the unreachable message if any, the summary line and the data's age."""
    if error is not None:
        kept = f" Showing data from {duration(age)} ago." if overview is not None else ""
        st.error(f"Aggregator unreachable at {settings.api_url}: {error}.{kept}")
    if overview is None:
        st.info("No data yet. Is the aggregator running? (`sessionbeat up`)")
        return
    summary = overview.summary
    st.markdown(f'<div class="sb-title">{esc(summary.title)}</div>', unsafe_allow_html=True)
    online = overview.hosts_by_state.get(HostState.ONLINE.value, 0)
    broker = "" if summary.broker_connected else " · ⚠ aggregator not connected to the broker"
    st.caption(
        f"{online}/{overview.hosts_total} hosts online · updated "
        f"{'just now' if age < 5 else duration(age) + ' ago'}{broker}"
    )


def show_section(section: Section, filters: Filters, overview: Overview) -> None:
    """Render one section: its heading and cards, folded in an expander if it says so."""
    if section.folded:
        with st.expander(section.label, key=str(section.status or section.title)):
            show_cards(section.views, filters, overview)
        return
    st.markdown(f"#### {section.label}")
    show_cards(section.views, filters, overview)


def more_line(listing: Listing, filters: Filters) -> None:
    """Say how many of the matching sessions the page shows, with "Show more" if there are more.

    ``"Showing 50 of 10,000 sessions"``; nothing when the page holds them all.
    """
    if listing.error is not None:
        st.warning(listing.error)
    if len(listing.sessions) >= listing.total:
        return
    st.caption(f"Showing {len(listing.sessions):,} of {listing.total:,} sessions")
    if listing.can_grow:
        st.button("Show more", key="more", on_click=show_more, args=(filters,))
    elif listing.more:
        st.caption("Narrow the list with the filters to see the others.")


def live(settings: Settings) -> None:
    """One refresh: summary, approvals, hosts, grouped sessions (or one session's detail)."""
    filters = Filters.from_query(st.query_params.to_dict())
    api = client(settings)
    overview, error, age = load_overview(api)
    header(settings, overview, error, age)
    if overview is None:
        return
    if age:  # kept data: move its clock on, so "2 min ago" stays true
        overview = overview.model_copy(update={"now": overview.now + timedelta(seconds=age)})
    # The page shows the sessions needing approval among the others, as one list.
    overview = overview.model_copy(
        update={"sessions": [*overview.attention, *overview.sessions], "attention": []}
    )
    if filters.session:
        detail(api, settings, filters, overview)
        return
    if error is None:  # an aggregator that did not answer /overview is not asked again
        notify_caption(api)
    top = st.container()  # filled after the filters are read, but shown first
    hosts_strip(overview)
    filters = controls(filters, overview)
    listing = load_listing(api, overview, filters, live=error is None)
    # Branch-mates are counted over every session the page holds (see show_cards).
    overview = overview.model_copy(update={"sessions": merge(overview.sessions, listing.sessions)})
    layout = live_layout(listing.sessions, filters, listing.by_status)
    with top:
        if layout.approvals.views:
            show_section(layout.approvals, filters, overview)
        else:
            st.caption("✓ Nothing waits for approval.")
    if layout.empty:
        st.info(layout.empty)
    for section in layout.sections:
        show_section(section, filters, overview)
    more_line(listing, filters)
    history = {k: v for k, v in filters.to_query().items() if k in ("host", "repo")}
    st.markdown(f"[History of ended sessions →]({link(history, view='history')})")


def main() -> None:
    """Render the page (Streamlit runs this on every full rerun)."""
    st.set_page_config(page_title="sessionbeat", page_icon="⚡", layout="centered")
    settings = load_settings()
    st.markdown(CSS, unsafe_allow_html=True)
    if st.query_params.get("view") == "history":
        history(client(settings))
        return

    @st.fragment(run_every=REFRESH)
    def refresh() -> None:
        live(settings)

    refresh()
