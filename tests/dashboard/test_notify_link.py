"""The link in a push opens that session's page."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from sessionbeat.notifier.messages import session_link
from tests.dashboard.conftest import CWD, Loaded
from tests.dashboard.test_page import run_page


def test_the_push_link_opens_the_session_detail(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Following a push's link shows the waiting session's detail, not the list."""
    link = session_link("http://kai-server.tailnet.ts.net:8501", loaded.host, "approve-1")
    assert link is not None
    query = dict(parse_qsl(urlsplit(link).query))
    at = run_page(monkeypatch, loaded.aggregator.url, **query)
    assert [c.value for c in at.code] == [f"cd '{CWD}' && claude --resume approve-1"]
    assert "wants Bash" in "\n".join(m.value for m in at.markdown)
