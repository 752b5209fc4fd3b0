"""The history view of the page (``?view=history&host=&repo=&period=&page=``).

Ended and reaped sessions from ``GET /history``, newest first, :data:`PAGE_SIZE` per page,
filtered by host, repo and how long ago they were reaped (filters in the URL). Each card links
to the session's detail; the matching sessions download as JSON or Markdown through
``GET /history/export`` (fetched only when a download button is pressed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from sessionbeat.dashboard.common import link, sync_query
from sessionbeat.dashboard.history_view import PAGE_SIZE, PERIODS, HistoryQuery, history_card
from sessionbeat.dashboard.view import md
from sessionbeat.errors import ApiUnavailableError
from sessionbeat.models import ExportFormat
from sessionbeat.readers.client import ApiClient


def known_hosts(api: ApiClient) -> list[str]:
    """Return the names of the hosts the aggregator knows (``GET /hosts``), [] if it is down."""
    try:
        return sorted(h.host for h in api.hosts())
    except ApiUnavailableError:
        return []


def choose(api: ApiClient, query: HistoryQuery) -> HistoryQuery:
    """Show the host, repo and period filters; return them (page 0 when they changed)."""
    hosts = sorted(set(known_hosts(api)) | ({query.host} if query.host else set()))
    with st.expander("Filters", key="h_filters"):
        chosen = _widgets(query, hosts)
    shown = [chosen.host or "all hosts", chosen.repo or "all repos", PERIODS[chosen.period][0]]
    st.caption(md(" · ".join(shown)))
    return chosen


def _widgets(query: HistoryQuery, hosts: list[str]) -> HistoryQuery:
    """Show the filter widgets; return their values (page 0 when they changed)."""
    host = st.selectbox(
        "Host",
        ["all", *hosts],
        key="h_host",
        index=1 + hosts.index(query.host) if query.host else 0,
    )
    repo = st.text_input("Repo", value=query.repo or "", key="h_repo").strip() or None
    periods = list(PERIODS)
    period = st.selectbox(
        "Reaped",
        periods,
        key="h_period",
        index=periods.index(query.period),
        format_func=lambda p: PERIODS[p][0],
    )
    chosen = HistoryQuery(host=None if host == "all" else host, repo=repo, period=period)
    same = (chosen.host, chosen.repo, chosen.period) == (query.host, query.repo, query.period)
    return HistoryQuery(chosen.host, chosen.repo, chosen.period, query.page if same else 0)


def exporter(
    api: ApiClient, fmt: ExportFormat, query: HistoryQuery, since: datetime | None
) -> Callable[[], str]:
    """Return a function that fetches the filtered history export when a button is pressed."""
    return lambda: api.export_history(fmt, host=query.host, repo=query.repo, since=since)


def history(api: ApiClient) -> None:
    """Render the history view: filters, one page of session cards, pager, exports."""
    query = HistoryQuery.from_query(st.query_params.to_dict())
    back = {k: v for k, v in (("host", query.host), ("repo", query.repo)) if v}
    st.markdown(f"[← live sessions]({link(back)})")
    st.markdown("### History")
    query = choose(api, query)
    sync_query(query.to_query())
    now = datetime.now(UTC)
    since = query.since(now)
    try:
        page = api.history(
            limit=PAGE_SIZE,
            offset=query.page * PAGE_SIZE,
            host=query.host,
            repo=query.repo,
            since=since,
        )
    except ApiUnavailableError as exc:
        st.error(f"History unavailable: {exc}")
        return
    if not page.items:
        st.info("No ended sessions match." if page.total == 0 else "No more sessions.")
    else:
        first = page.offset + 1
        st.caption(f"{first}-{page.offset + len(page.items)} of {page.total} sessions")
    cards = "".join(
        history_card(e, now, link({}, session=e.session_id, shost=e.host)) for e in page.items
    )
    st.markdown(cards, unsafe_allow_html=True)
    here = query.to_query()
    pager = []
    if query.page > 0:
        pager.append(
            f"[← newer]({link(here, page=str(query.page - 1) if query.page > 1 else None)})"
        )
    if page.next_offset is not None:
        pager.append(f"[older →]({link(here, page=str(query.page + 1))})")
    if pager:
        st.markdown(" · ".join(pager))
    if page.total:
        for column, fmt in zip(st.columns(2), ExportFormat, strict=True):
            with column:
                st.download_button(
                    f"Export {page.total} as {fmt.upper()}",
                    data=exporter(api, fmt, query, since),
                    file_name=f"sessionbeat-history.{fmt}",
                    mime=fmt.media_type,
                    on_click="ignore",
                    key=f"hexport-{fmt}",
                    width="stretch",
                )
