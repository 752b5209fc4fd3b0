"""One session's detail on the page (``?session=<id>&shost=<host>``).

Shows every field, the status timeline, a copyable resume command, the transcript's last
messages when the page runs on the session's own host, and JSON/Markdown exports. It runs
inside the live fragment and reuses that refresh's ``GET /overview``: the timeline
(``GET /sessions/{id}``) is fetched again only when the session's ``seq`` or status changed,
so an open detail costs the aggregator one call per refresh, like the overview. A live session
the overview does not hold (beyond its first page, in a fleet) is read with
``GET /sessions/{id}?host=`` each refresh (view and timeline in one call). A session that is
no longer live is read once from the history (``GET /history/{id}``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from sessionbeat.claude_code.transcript import TranscriptMessage, tail_messages
from sessionbeat.dashboard.common import link
from sessionbeat.dashboard.detail_view import (
    facts,
    fields_table,
    resume_command,
    timeline_lines,
    zone_name,
)
from sessionbeat.dashboard.history_view import history_card
from sessionbeat.dashboard.view import Filters, card, md
from sessionbeat.errors import ApiUnavailableError, NotFoundError
from sessionbeat.models import ExportFormat, HistoryEntry, Overview, SessionDetail, SessionView
from sessionbeat.readers.branchmates import branch_mates
from sessionbeat.readers.client import ApiClient
from sessionbeat.readers.render import safe_text, tmux_command
from sessionbeat.settings import Settings

RECHECK = 10.0
"""Seconds a session found neither live nor in the history is remembered as unknown."""
MESSAGES = 6
"""Transcript messages shown."""
MESSAGE_CHARS = 2000
"""Characters of one transcript message shown."""
TAIL_BYTES = 512 * 1024
"""At most this many bytes are read from the end of a transcript."""


def find(sessions: list[SessionView], session_id: str, host: str | None) -> SessionView | None:
    """Return the live session with this id (and host, when given), else None."""
    for view in sessions:
        if view.session_id == session_id and (host is None or view.host == host):
            return view
    return None


def live_detail(api: ApiClient, view: SessionView, now: datetime) -> SessionDetail:
    """Return ``view`` with its timeline, fetching the timeline only when it can have changed.

    The aggregator appends to a timeline exactly when a session's effective status changes,
    which moves ``status_since``; so the cache (one per browser tab) is keyed by host, session
    id, status and ``status_since``. A status derived at this very instant (``status_since ==
    now``: idle or stale not yet recorded by the aggregator's reaper) reuses the cached
    timeline; the next refresh sees the recorded change and fetches once. If the aggregator
    is unreachable the cached timeline of the same session is kept. Raises
    ``ApiUnavailableError`` when there is none.
    """
    key = (view.host, view.session_id, view.status.value, view.status_since)
    cached_key, kept = st.session_state.get("sb_detail", ((), []))
    same = cached_key[:2] == key[:2]
    if same and (cached_key == key or view.status_since >= now):
        return SessionDetail(**view.model_dump(), timeline=kept)
    try:
        timeline = api.session(view.session_id, view.host).timeline
    except NotFoundError:  # reaped since the overview: keep what we had
        timeline = kept if same else []
    except ApiUnavailableError:
        if not same:
            raise
        return SessionDetail(**view.model_dump(), timeline=kept)
    st.session_state["sb_detail"] = (key, timeline)
    return SessionDetail(**view.model_dump(), timeline=timeline)


def beyond_overview(api: ApiClient, session_id: str, host: str | None) -> SessionDetail | None:
    """Return a live session the overview does not hold (``GET /sessions/{id}?host=``).

    None when it is not live (404). Raises ``ApiUnavailableError``.
    """
    try:
        return api.session(session_id, host)
    except NotFoundError:
        return None


def reaped(api: ApiClient, session_id: str, host: str | None) -> HistoryEntry | None:
    """Return a reaped session from the history (cached per tab), or None if unknown.

    "Unknown" is remembered for :data:`RECHECK` seconds. Raises ``ApiUnavailableError``.
    """
    cache: dict[tuple[str, str | None], tuple[HistoryEntry | None, float]]
    cache = st.session_state.setdefault("sb_reaped", {})
    entry, fetched = cache.get((session_id, host), (None, 0.0))
    if entry is not None or time.monotonic() - fetched < RECHECK:
        return entry
    try:
        entry = api.history_entry(session_id, host)
    except NotFoundError:
        entry = None
    cache[(session_id, host)] = (entry, time.monotonic())
    return entry


def last_messages(path: str) -> list[TranscriptMessage]:
    """Return the transcript's last messages, read again only when the file changed.

    Reads at most :data:`TAIL_BYTES` from the end (``tail_messages``); cached per tab by path,
    size and modification time.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return []
    key = (path, stat.st_size, stat.st_mtime_ns)
    cached = st.session_state.get("sb_transcript")
    if cached is not None and cached[0] == key:
        messages: list[TranscriptMessage] = cached[1]
        return messages
    messages = tail_messages(path, limit=MESSAGES, max_bytes=TAIL_BYTES)
    st.session_state["sb_transcript"] = (key, messages)
    return messages


def reader_zone() -> tzinfo:
    """Return the browser's time zone (``st.context.timezone``), else UTC."""
    try:
        return ZoneInfo(st.context.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def exporter(api: ApiClient, session_id: str, fmt: ExportFormat, host: str) -> Callable[[], str]:
    """Return a function that fetches the export when the download button is pressed."""
    return lambda: api.export_session(session_id, fmt, host)


def transcript(settings: Settings, record: SessionDetail | HistoryEntry) -> None:
    """Show the last transcript messages when the transcript is on this host, else its path."""
    path = record.transcript_path
    if not path:
        return
    if record.host == settings.host and Path(path).is_file():
        st.markdown(f"**Last messages** · {md(path)}")
        messages = last_messages(path)
        if not messages:
            st.caption("No text messages in the end of the transcript.")
        for message in messages:
            with st.chat_message("user" if message.role == "user" else "assistant"):
                st.markdown(message.text[:MESSAGE_CHARS])
    else:
        st.caption(f"Transcript on {record.host}: {md(path)}")


def detail(api: ApiClient, settings: Settings, filters: Filters, overview: Overview) -> None:
    """Show one session: card, resume command, timeline, transcript, exports, every field."""
    assert filters.session is not None
    query = filters.to_query()
    st.markdown(f"[← all sessions]({link(query, session=None, shost=None)})")
    view = find(overview.sessions, filters.session, filters.session_host)
    record: SessionDetail | HistoryEntry | None
    try:
        if view is not None:
            record = live_detail(api, view, overview.now)
        else:
            record = beyond_overview(api, filters.session, filters.session_host)
            view = record
        if view is not None:
            held = [
                v
                for v in overview.sessions
                if (v.host, v.session_id) != (view.host, view.session_id)
            ]
            mates = branch_mates([*held, view]).get((view.host, view.session_id), 0)
            exact = overview.next_cursor is None
            st.markdown(card(view, overview.now, None, mates, exact), unsafe_allow_html=True)
        else:
            record = reaped(api, filters.session, filters.session_host)
    except ApiUnavailableError as exc:
        st.error(f"Cannot read the session: {exc}")
        return
    if record is None:
        st.warning(f"Session {md(filters.session)} is neither live nor in the history.")
        return
    if isinstance(record, HistoryEntry):
        st.markdown(history_card(record, overview.now, None), unsafe_allow_html=True)
    st.caption(md(facts(record, overview.now, reader_zone())))
    tmux = record.tmux if isinstance(record, SessionView) else None
    if tmux:
        st.markdown(f"Running in tmux on **{record.host}** · jump to its pane there:")
        st.code(safe_text(tmux_command(tmux)), language="bash", wrap_lines=True)
    st.markdown(f"Session `{record.session_id}` on **{record.host}** · resume it there:")
    # Cleaning keeps the quoting whole (no quote character is removed): a folder with control
    # or bidi characters gives a cd that fails, never one that runs something else.
    resume = safe_text(resume_command(record.session_id, record.cwd))
    st.code(resume, language="bash", wrap_lines=True)
    zone = reader_zone()
    st.markdown(f"**Timeline** · times in {md(zone_name(zone))}")
    st.markdown(timeline_lines(record.timeline, overview.now, zone))
    transcript(settings, record)
    for column, fmt in zip(st.columns(2), ExportFormat, strict=True):
        with column:
            st.download_button(
                f"Export {fmt.upper()}",
                data=exporter(api, record.session_id, fmt, record.host),
                file_name=f"session-{record.session_id[:8]}.{fmt}",
                mime=fmt.media_type,
                on_click="ignore",
                key=f"export-{fmt}",
                width="stretch",
            )
    with st.expander("All fields", key="fields"):
        fields = record.model_dump(mode="json", exclude={"timeline"})
        st.markdown(fields_table(fields), unsafe_allow_html=True)
