"""The Streamlit page: live sessions for a phone, session detail, history.

A thin client of the aggregator: the live part refreshes every :data:`REFRESH` seconds inside a
``st.fragment`` (the page itself is not reloaded) with ONE ``GET /overview`` call; an open
session detail adds one ``GET /sessions/{id}``. When the aggregator cannot be reached the page
says so and keeps showing the last data with its age. Filters live in the URL query.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

from sessionbeat.client import ApiClient
from sessionbeat.dashboard.view import (
    CSS,
    SECTIONS,
    TITLES,
    Filters,
    Grouping,
    ago,
    card,
    group_sessions,
    host_chip,
)
from sessionbeat.errors import ApiUnavailableError, NotFoundError
from sessionbeat.models import HistoryEntry, Overview, SessionDetail, SessionView
from sessionbeat.publisher.transcript import tail_messages
from sessionbeat.render import STATUS_ICONS, duration
from sessionbeat.settings import Settings, load_settings

REFRESH = 2.0
"""Seconds between live refreshes."""
PERIODS = {
    "last hour": 1,
    "last 24 h": 24,
    "last 7 days": 24 * 7,
    "last 30 days": 24 * 30,
    "all": None,
}


@st.cache_resource
def _client(url: str, token: str | None) -> ApiClient:
    return ApiClient(url, token, timeout=3.0)


def client(settings: Settings) -> ApiClient:
    """Return the page's API client (one per URL and token, shared by reruns)."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return _client(settings.api_url, token)


def load_overview(api: ApiClient) -> tuple[Overview | None, str | None, float]:
    """Fetch the overview; on failure return the last one. Returns (data, error, age in s)."""
    try:
        overview = api.overview()
    except ApiUnavailableError as exc:
        last = st.session_state.get("last_overview")
        if last is None:
            return None, str(exc), 0.0
        data, fetched = last
        return data, str(exc), time.time() - fetched
    st.session_state["last_overview"] = (overview, time.time())
    return overview, None, 0.0


def link(filters: Filters, **changes: str | None) -> str:
    """Return a query-string link with some filters changed (``None`` removes one)."""
    query = filters.to_query()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return "?" + urlencode(query)


def controls(filters: Filters, sessions: list[SessionView]) -> Filters:
    """Show grouping and filter widgets; keep the URL query in step. Returns the filters."""
    hosts = sorted({s.host for s in sessions} | ({filters.host} if filters.host else set()))
    repos = sorted({s.repo or "-" for s in sessions} | ({filters.repo} if filters.repo else set()))
    group = (
        st.segmented_control(
            "Group by", [g.value for g in Grouping], default=filters.group.value, key="group"
        )
        or Grouping.STATUS.value
    )
    with st.expander(
        "Filters" + (" (on)" if filters.host or filters.repo or filters.status else "")
    ):
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
            index=1 + repos.index(filters.repo) if filters.repo else 0,
        )
        status = st.selectbox(
            "Status",
            ["all", *SECTIONS],
            key="f_status",
            format_func=lambda s: TITLES.get(s, s),
            index=1 + SECTIONS.index(filters.status) if filters.status else 0,
        )
    chosen = Filters(
        host=None if host == "all" else host,
        repo=None if repo == "all" else repo,
        status=None if status == "all" else status,
        group=Grouping(group),
        session=filters.session,
        session_host=filters.session_host,
    )
    wanted = chosen.to_query()
    if wanted != {k: v for k, v in st.query_params.to_dict().items() if k != "view"}:
        st.query_params.from_dict(wanted)
    return chosen


def show_cards(views: list[SessionView], filters: Filters, now: datetime) -> None:
    """Render session cards."""
    st.markdown(
        "".join(card(v, now, link(filters, session=v.session_id, shost=v.host)) for v in views),
        unsafe_allow_html=True,
    )


def live(settings: Settings, filters: Filters) -> None:
    """One refresh of the live view: summary, approvals, hosts, grouped sessions, detail."""
    api = client(settings)
    overview, error, age = load_overview(api)
    if error is not None:
        stale = f" Showing data from {duration(age)} ago." if overview is not None else ""
        st.error(f"Aggregator unreachable at {settings.api_url}: {error}.{stale}")
    if overview is None:
        st.info("No data yet. Is the aggregator running? (`sessionbeat up`)")
        return
    now = overview.now + timedelta(seconds=age)
    summary = overview.summary
    st.markdown(f'<div class="sb-title">{html.escape(summary.title)}</div>', unsafe_allow_html=True)
    online = sum(1 for h in overview.hosts if h.state and h.state.value == "online")
    broker = "" if summary.broker_connected else " · ⚠ aggregator not connected to the broker"
    st.caption(
        f"{online}/{len(overview.hosts)} hosts online · updated "
        f"{'just now' if age < 5 else duration(age) + ' ago'}{broker}"
    )
    if filters.session:
        detail(api, settings, filters, now)
        return
    approvals = [
        v for v in overview.sessions if v.status.value == "needs_approval" and filters.matches(v)
    ]
    if approvals:
        st.markdown(f"#### {STATUS_ICONS['needs_approval']} Needs approval ({len(approvals)})")
        show_cards(approvals, filters, now)
    if overview.hosts:
        st.markdown("".join(host_chip(h, now) for h in overview.hosts), unsafe_allow_html=True)
    filters = controls(filters, overview.sessions)
    shown = [v for v in overview.sessions if filters.matches(v)]
    rest = (
        shown
        if filters.group is not Grouping.STATUS
        else [v for v in shown if v.status.value != "needs_approval"]
    )
    groups = group_sessions(rest, filters.group)
    if not groups and not approvals:
        st.info("No sessions" + (" match the filters." if shown != overview.sessions else " yet."))
    for title, views in groups:
        if title == TITLES["ended"]:
            with st.expander(f"{STATUS_ICONS['ended']} {title} ({len(views)})"):
                show_cards(views, filters, now)
            continue
        icon = next((STATUS_ICONS[s] for s in SECTIONS if TITLES[s] == title), "")
        st.markdown(f"#### {icon} {html.escape(title)} ({len(views)})")
        show_cards(views, filters, now)
    st.markdown(f"[History of ended sessions →]({link(filters, view='history')})")


def detail(api: ApiClient, settings: Settings, filters: Filters, now: datetime) -> None:
    """Show one session: every field, its timeline, resume command, transcript, exports."""
    assert filters.session is not None
    st.markdown(f"[← all sessions]({link(filters, session=None, shost=None)})")
    record: SessionDetail | HistoryEntry
    try:
        record = api.session(filters.session, filters.session_host)
    except NotFoundError:
        try:
            record = api.history_entry(filters.session, filters.session_host)
        except NotFoundError:
            st.warning(f"Session {filters.session} is neither live nor in the history.")
            return
    if isinstance(record, SessionDetail):
        show_cards([record], filters, now)
    else:
        st.info(f"Ended session (reaped {ago(record.reaped_at, now)}, {record.reap_reason}).")
    st.markdown("**Resume it on its host**")
    st.code(f"claude --resume {record.session_id}", language="bash")
    fields = record.model_dump(mode="json", exclude={"timeline"})
    rows = "\n".join(
        f"| {k} | {html.escape(str(v)) if v not in (None, '') else '-'} |"
        for k, v in fields.items()
    )
    with st.expander("All fields"):
        st.markdown("| field | value |\n| --- | --- |\n" + rows)
    st.markdown("**Timeline**")
    lines = [
        f"- {t.at.astimezone(UTC):%H:%M:%S} · {STATUS_ICONS.get(t.status.value, '·')} "
        f"{t.status.value.replace('_', ' ')}" + (f" ({t.event})" if t.event else "")
        for t in reversed(record.timeline)
    ]
    st.markdown("\n".join(lines) or "-")
    path = record.transcript_path
    if path and record.host == settings.host and Path(path).is_file():
        st.markdown("**Last messages** (transcript on this host)")
        for message in tail_messages(path, limit=6):
            with st.chat_message(message.role):
                st.markdown(message.text[:2000])
    elif path:
        st.caption(f"Transcript on {record.host}: `{path}`")
    left, right = st.columns(2)
    for column, fmt, mime in ((left, "json", "application/json"), (right, "md", "text/markdown")):
        with column:
            st.download_button(
                f"Export {fmt.upper()}",
                data=api.export_session(record.session_id, fmt, record.host),  # type: ignore[arg-type]
                file_name=f"session-{record.session_id[:8]}.{fmt}",
                mime=mime,
                on_click="ignore",
                key=f"export-{fmt}",
            )


def history_tab(settings: Settings) -> None:
    """Show ended and reaped sessions with filters and JSON/Markdown exports."""
    api = client(settings)
    last = st.session_state.get("last_overview")
    hosts = sorted({h.host for h in last[0].hosts}) if last else []
    host = st.selectbox("Host", ["all", *hosts], key="h_host")
    repo = st.text_input("Repo", key="h_repo").strip() or None
    period = st.selectbox("Reaped", list(PERIODS), index=1, key="h_period")
    hours = PERIODS[period]
    since = datetime.now(UTC) - timedelta(hours=hours) if hours else None
    params = {"host": None if host == "all" else host, "repo": repo, "since": since}
    try:
        page = api.history(limit=100, **params)  # type: ignore[arg-type]
    except ApiUnavailableError as exc:
        st.error(f"History unavailable: {exc}")
        return
    st.caption(f"{page.total} sessions")
    if page.items:
        st.dataframe(
            [
                {
                    "reaped": e.reaped_at.strftime("%Y-%m-%d %H:%M"),
                    "host": e.host,
                    "repo": e.repo or "-",
                    "status": e.status.value,
                    "end": e.end_reason or e.reap_reason,
                    "task": e.task or "",
                    "session": e.session_id,
                }
                for e in page.items
            ],
            hide_index=True,
            use_container_width=True,
        )
        left, right = st.columns(2)
        for column, fmt, mime in (
            (left, "json", "application/json"),
            (right, "md", "text/markdown"),
        ):
            with column:
                st.download_button(
                    f"Export {fmt.upper()}",
                    data=api.export_history(fmt, **params),  # type: ignore[arg-type]
                    file_name=f"sessionbeat-history.{fmt}",
                    mime=mime,
                    on_click="ignore",
                    key=f"hexport-{fmt}",
                )


def main() -> None:
    """Render the page (Streamlit runs this on every rerun)."""
    st.set_page_config(page_title="sessionbeat", page_icon="⚡", layout="centered")
    settings = load_settings()
    st.markdown(CSS, unsafe_allow_html=True)
    query = st.query_params.to_dict()
    filters = Filters.from_query(query)
    if query.get("view") == "history":
        st.markdown(f"[← live sessions]({link(filters, view=None)})")
        st.markdown("### History")
        history_tab(settings)
        return

    @st.fragment(run_every=REFRESH)
    def refresh() -> None:
        live(settings, filters)

    refresh()
