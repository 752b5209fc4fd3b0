"""Pieces every view of the page shares: the API client, links, the URL query, cards."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from sessionbeat.dashboard.view import Filters, card
from sessionbeat.models import Overview, SessionView
from sessionbeat.readers.branchmates import branch_mates
from sessionbeat.readers.client import ApiClient
from sessionbeat.settings import Settings

TIMEOUT = 3.0
"""Seconds the page waits for the aggregator before saying it is unreachable."""


@st.cache_resource
def _client(url: str, token: str | None) -> ApiClient:
    return ApiClient(url, token, timeout=TIMEOUT)


def client(settings: Settings) -> ApiClient:
    """Return the page's API client (one per URL and token, shared by reruns and sessions)."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return _client(settings.api_url, token)


def link(query: dict[str, str], **changes: str | None) -> str:
    """Return a ``?query`` link: ``query`` with some keys changed (``None`` removes one)."""
    out = dict(query)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return "?" + urlencode(out)


def sync_query(wanted: dict[str, str]) -> None:
    """Make the browser's URL query equal ``wanted`` (so a bookmark keeps the filters)."""
    if wanted != st.query_params.to_dict():
        st.query_params.from_dict(wanted)


def show_cards(views: list[SessionView], filters: Filters, overview: Overview) -> None:
    """Render session cards, each linking to its detail (the filters kept in the link).

    "N on this branch" is counted over ``overview.sessions`` (every session the page holds,
    across hosts, not only the filtered cards); exact when the overview had no further page
    (``next_cursor`` None: the page holds the whole fleet), else a lower bound ("2+").
    """
    query = filters.to_query()
    mates = branch_mates(overview.sessions)
    exact = overview.next_cursor is None
    st.markdown(
        "".join(
            card(
                v,
                overview.now,
                link(query, session=v.session_id, shost=v.host),
                mates.get((v.host, v.session_id), 0),
                exact,
            )
            for v in views
        ),
        unsafe_allow_html=True,
    )
