"""The Streamlit page against a real aggregator (streamlit.testing AppTest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sessionbeat.broker import free_port
from sessionbeat.models import utc_now
from sessionbeat.publisher.transcript import tail_messages
from tests.aggregator.support import Publisher, beat, unique_host
from tests.conftest import FIXTURES, short_tmpdir
from tests.dashboard.conftest import Loaded
from tests.procs import wait_until

APP = Path(__file__).parents[2] / "src" / "sessionbeat" / "dashboard" / "app.py"


def run_page(monkeypatch: pytest.MonkeyPatch, api_url: str, **query: str) -> AppTest:
    monkeypatch.setenv("SESSIONBEAT_API_URL", api_url)
    at = AppTest.from_file(str(APP), default_timeout=30)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_every_status_section_with_counts_and_fields(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Summary first, the approval on top with tool and wait, then each status section."""
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.host)
    text = markdown(at)
    assert text.index("sb-title") < text.index("Needs approval (1)")
    assert "approval" in at.markdown[1].value  # the GET /summary title line
    for section in ("Working (1)", "Waiting for input (1)", "Idle (1)", "Stale (1)"):
        assert section in text
    assert "wants Bash: pytest -x" in text
    assert "waiting " in text
    assert "ctx 65%" in text  # 130,000 of 200,000 tokens
    assert "2 subagents" in text
    assert "Fixing the login form" in text
    assert loaded.host in text and "online" in text  # hosts strip


def test_offline_host_and_filters_from_the_url(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?host= shows that host only; an offline host's session is in the Offline section."""
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.down)
    text = markdown(at)
    assert "Offline (1)" in text
    assert "infra" in text
    assert "Fixing the login form" not in text
    at = run_page(monkeypatch, loaded.aggregator.url, status="idle")
    assert "Idle (" in markdown(at)
    assert "Working (" not in markdown(at)


def test_grouping_by_repo(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """?group=repo groups the cards by repository name."""
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.host, group="repo")
    headers = [m.value for m in at.markdown if m.value.startswith("####")]
    assert any(h.endswith("api (2)") for h in headers)  # approve-1 and wait-1 (ended hidden)
    assert any(h.endswith("web (3)") for h in headers)


def test_session_detail(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """?session= shows the resume command, the timeline and the export buttons."""
    at = run_page(monkeypatch, loaded.aggregator.url, session="approve-1", shost=loaded.host)
    assert [c.value for c in at.code] == ["claude --resume approve-1"]
    assert "needs approval" in markdown(at)  # the timeline
    assert len(at.get("download_button")) == 2


def test_history_view(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """?view=history lists reaped sessions (none yet here) without errors."""
    at = run_page(monkeypatch, loaded.aggregator.url, view="history")
    assert "History" in markdown(at)
    assert not at.error


def test_unreachable_aggregator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no aggregator listening, the page says it is unreachable instead of failing."""
    at = run_page(monkeypatch, f"http://127.0.0.1:{free_port()}")
    assert at.error
    assert "unreachable" in at.error[0].value


def test_detail_shows_the_transcript_on_the_same_host(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch, publisher: Publisher
) -> None:
    """When the page runs on the session's host, the last transcript messages are rendered."""
    transcript = short_tmpdir() / "7da73774.jsonl"
    shutil.copy(FIXTURES / "transcript-1.jsonl", transcript)
    here = unique_host("here")
    publisher.beat(beat(here, "local-1", transcript_path=str(transcript), sent_at=utc_now()))
    wait_until(lambda: "local-1" in loaded.aggregator.sessions(host=here), 15)
    monkeypatch.setenv("SESSIONBEAT_HOST", here)
    at = run_page(monkeypatch, loaded.aggregator.url, session="local-1", shost=here)
    messages = at.get("chat_message")
    assert messages
    last = tail_messages(str(transcript), limit=6)[-1]
    assert last.text[:60] in markdown(at)
    monkeypatch.setenv("SESSIONBEAT_HOST", "elsewhere")
    at = run_page(monkeypatch, loaded.aggregator.url, session="local-1", shost=here)
    assert not at.get("chat_message")
    assert any(str(transcript) in c.value for c in at.caption)
