"""The Streamlit page against a real aggregator (streamlit.testing AppTest)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.claude_code.transcript import tail_messages
from sessionbeat.dashboard.notify_view import notify_line
from sessionbeat.dashboard.view import md
from sessionbeat.models import HostState, NotifyStatus, utc_now
from tests.aggregator.support import T0, Publisher, beat, notify_on, running, unique_host
from tests.conftest import FIXTURES, short_tmpdir
from tests.dashboard.conftest import CWD, Loaded
from tests.dashboard.test_detail_view import powershell_split, ps_cd
from tests.procs import Aggregator, static_server, wait_until
from tests.readers.test_safe_text import unsafe_shown

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


def headers(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("####")]


def test_every_status_section_with_counts_and_fields(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Summary first, the approval on top with tool and wait, then each status section."""
    before = utc_now()
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.host)
    after = utc_now()
    text = markdown(at)
    assert "1 needs you" in at.markdown[1].value  # the GET /summary title line, first on screen
    assert headers(at)[0] == "#### ⚠ Needs approval (1)"
    assert text.index("wants Bash") < text.index(loaded.host + "</b>")  # before the hosts strip
    for section in ("Working (1)", "Waiting for input (1)", "Idle (1)", "Stale (1)"):
        assert section in text
    assert [e.label for e in at.expander if e.label.startswith("■")] == ["■ Ended (1)"]
    assert "wants Bash: pytest -x" in text
    assert "waiting " in text
    assert "ctx 65%" in text  # 130,000 of 200,000 tokens
    assert "2 subagents" in text
    assert "claude-opus-4-6" in text
    assert "@main" in text  # branch
    assert "Fixing the login form" in text
    # idle-1's last activity was 20 min before the fixture ran; the page counts whole minutes
    # up to the aggregator's clock at the run, somewhere between before and after.
    ages = [int((t - loaded.idle_activity).total_seconds()) // 60 for t in (before, after)]
    assert any(f"active {m} min ago" in text for m in range(ages[0], ages[1] + 1)), ages
    assert loaded.host in text and "▲ online" in text  # hosts strip


def test_offline_host_and_filters_from_the_url(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """?host= shows that host only; an offline host's session is in the Offline section."""
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.down)
    text = markdown(at)
    assert "Offline (1)" in text
    assert "infra" in text and "✕ offline" in text
    assert "Fixing the login form" not in text
    assert any("Nothing waits for approval" in c.value for c in at.caption)
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.host, status="idle")
    assert headers(at) == ["#### ◌ Idle (1)"]
    assert at.selectbox(key="f_status").value == "idle"  # the widgets show the URL's filters


def test_grouping_by_repo_and_by_host(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """?group=repo groups the cards by repository, ?group=host by host (ended left out)."""
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.host, group="repo")
    assert at.segmented_control(key="group").value == "repo"
    assert headers(at)[1:] == ["#### api (2)", "#### web (3)"]  # approve-1 + wait-1; 3 in web
    at = run_page(monkeypatch, loaded.aggregator.url, group="host")
    assert f"#### {loaded.host} (5)" in headers(at)
    assert f"#### {loaded.down} (1)" in headers(at)


def test_changing_filters_puts_them_in_the_url(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Picking a host and a grouping rewrites the URL query, so a bookmark keeps them."""
    at = run_page(monkeypatch, loaded.aggregator.url)
    at.selectbox(key="f_host").set_value(loaded.down)
    at.segmented_control(key="group").set_value("repo")
    at.run()
    assert at.query_params == {"host": loaded.down, "group": "repo"}
    assert headers(at) == ["#### infra (1)"]
    assert "wants Bash" not in markdown(at)  # the approval belongs to the other host


def test_session_detail(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """?session= shows the card, resume command in its folder, timeline, exports, all fields."""
    at = run_page(monkeypatch, loaded.aggregator.url, session="approve-1", shost=loaded.host)
    assert [c.value for c in at.code] == [f"cd '{CWD}' && claude --resume approve-1"]
    text = markdown(at)
    assert "wants Bash: pytest -x" in text
    assert "⚠ needs approval" in text  # the timeline
    assert [b.proto.label for b in at.download_button] == ["Export JSON", "Export MD"]
    assert "<th>permission_mode</th>" in text and "<th>transcript_path</th>" in text
    assert "Needs approval (" not in text  # the list is not shown under a detail


def test_detail_of_a_session_in_tmux_prints_the_jump_command(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session whose registry names a tmux pane: the detail prints how to jump to it."""
    at = run_page(monkeypatch, loaded.aggregator.url, session="work-1", shost=loaded.host)
    assert [c.value for c in at.code] == ["tmux attach -t work:@1.%3", "claude --resume work-1"]
    captions = " ".join(c.value for c in at.caption)
    assert "Claude Code 2.1.328 · cli" in captions
    assert "status from hook" in captions


def test_detail_of_a_reaped_session_comes_from_the_history(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session no longer live opens from the history: task, end reason, timeline."""
    at = run_page(monkeypatch, loaded.aggregator.url, session="done-1", shost=loaded.host)
    text = markdown(at)
    assert "Ship the release" in text
    assert "logout, reaped" in text
    assert "lasted 55 min" in text
    assert "■ ended" in text  # its timeline
    assert [c.value for c in at.code] == ["claude --resume done-1"]
    at = run_page(monkeypatch, loaded.aggregator.url, session="nope-1", shost=loaded.host)
    assert "neither live nor in the history" in at.warning[0].value


def test_history_view_filters_and_exports(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    """?view=history lists reaped sessions by host/repo/period, with both exports."""
    at = run_page(monkeypatch, loaded.aggregator.url, view="history", host=loaded.host)
    assert "Ship the release" in markdown(at)
    assert any(c.value == "1-1 of 1 sessions" for c in at.caption)
    assert at.selectbox(key="h_host").value == loaded.host
    assert [b.proto.label for b in at.download_button] == ["Export 1 as JSON", "Export 1 as MD"]
    assert "session=done-1" in markdown(at)  # the card links to the detail
    at.text_input(key="h_repo").set_value("web").run()
    assert at.query_params == {"view": "history", "host": loaded.host, "repo": "web"}
    assert "Ship the release" not in markdown(at)
    assert at.info[0].value == "No ended sessions match."


def test_unreachable_aggregator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no aggregator listening, the page says it is unreachable instead of failing."""
    url = f"http://127.0.0.1:{free_port()}"
    at = run_page(monkeypatch, url)
    assert f"Aggregator unreachable at {url}" in at.error[0].value
    assert "No data yet" in at.info[0].value


def test_an_aggregator_without_overview_is_named_too_old(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that answers 404 to GET /overview (an older aggregator) gets an upgrade hint."""
    with static_server(short_tmpdir()) as url:
        at = run_page(monkeypatch, url)
    assert "has no GET /overview: upgrade it" in at.error[0].value


def test_notification_line_says_off_on_and_failing(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the summary a line says whether pushes reach the phone; wire text stays text."""
    state = [NotifyStatus(enabled=False)]
    with running(broker, short_tmpdir(), notify_status=lambda: state[0]) as (_service, api):
        at = run_page(monkeypatch, api.url)
        off = notes(at)
        state[0] = notify_on()
        at.run()
        on = notes(at)
        state[0] = notify_on(
            last_error="ntfy: HTTP 500 <b>[login](https://evil.example)</b>",
            last_error_at=T0.replace(hour=14, minute=3),
        )
        at.run()
        failing = notes(at)
    assert off == ["🔕 Notifications off (set SESSIONBEAT_NOTIFY_URLS)"]
    assert on == ["🔔 Notifications on (ntfy, json) · last sent 14:02 · 1 pending"]
    assert failing == [
        "🔔 Notifications: last delivery failed 14:03: ntfy: HTTP 500 "
        "&lt;b&gt;[login](https://evil.example)&lt;/b&gt;"  # HTML text, never a tag or link
    ]
    text = markdown(at)
    assert text.index("sb-title") < text.index("sb-note")  # under the summary line


def test_no_notification_line_from_an_aggregator_without_notify(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older aggregator (404 on GET /notify) still gets its page, with no notification line."""
    root = short_tmpdir()
    (root / "overview").write_bytes(httpx.get(f"{loaded.aggregator.url}/overview").content)
    with static_server(root) as url:
        assert httpx.get(f"{url}/notify").status_code == 404
        at = run_page(monkeypatch, url, host=loaded.host)
    assert not at.error
    assert headers(at)[0] == "#### ⚠ Needs approval (1)"
    assert notes(at) == []


def test_notification_line_from_a_real_aggregator_without_urls(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sessionbeat aggregator` without notification URLs: the page says how to turn them on."""
    at = run_page(monkeypatch, loaded.aggregator.url, host=loaded.host)
    assert notes(at) == [notify_line(NotifyStatus(enabled=False))]


NOTE = re.compile(r'<div class="sb-note">(.*)</div>', re.DOTALL)


def notes(at: AppTest) -> list[str]:
    """The notification lines on the page, as the HTML text inside their element."""
    return [m[1] for m in (NOTE.fullmatch(e.value) for e in at.markdown) if m]


def test_the_api_token_from_the_settings_is_sent(
    broker: LocalBroker, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token-guarded aggregator: the page works with the token, names the setting without."""
    host = unique_host("guarded")
    aggregator = Aggregator(broker.url, short_tmpdir() / "agg", SESSIONBEAT_API_TOKEN="t0k3n")
    try:
        publisher.beat(beat(host, "guarded-1", repo="vault", sent_at=utc_now()))
        wait_until(lambda: "guarded-1" in markdown(_page(monkeypatch, aggregator.url)), 15)
        monkeypatch.delenv("SESSIONBEAT_API_TOKEN")
        at = run_page(monkeypatch, aggregator.url)
    finally:
        aggregator.stop()
    assert "set SESSIONBEAT_API_TOKEN" in at.error[0].value
    assert "vault" not in markdown(at)


def _page(monkeypatch: pytest.MonkeyPatch, url: str) -> AppTest:
    monkeypatch.setenv("SESSIONBEAT_API_TOKEN", "t0k3n")
    at = run_page(monkeypatch, url)
    assert not at.error, at.error[0].value
    return at


def test_keeps_the_last_data_when_the_aggregator_goes_away(
    broker: LocalBroker, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the aggregator stops, the page says so and still shows the last sessions."""
    host = unique_host("gone")
    aggregator = Aggregator(broker.url, short_tmpdir() / "agg")
    try:
        publisher.status(host, HostState.ONLINE, 1)
        publisher.beat(beat(host, "kept-1", repo="kept-repo", sent_at=utc_now()))
        wait_until(lambda: "kept-1" in aggregator.sessions(host=host), 15)
        at = run_page(monkeypatch, aggregator.url, host=host)
        assert not at.error
        assert "kept-repo" in markdown(at)
    finally:
        aggregator.stop()
    at.run()
    assert "unreachable" in at.error[0].value
    assert "Showing data from" in at.error[0].value
    assert "kept-repo" in markdown(at)


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
    assert any(md(str(transcript)) in c.value for c in at.caption)


def test_a_hostile_session_cannot_attack_the_reader(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch, publisher: Publisher
) -> None:
    """Its detail shows no control or bidi character, and its folder cannot break the command."""
    host = unique_host("evil")
    cwd = 'C:\\x"; touch /tmp/pwned; echo "'  # the folder: closes a double quote
    hostile = "\x1b]0;pwned\x07\r\u202eexe.txt"
    publisher.beat(beat(host, "evil-1", cwd=cwd, task=f"t{hostile}", tmux=f"w:@1.%2{hostile}"))
    wait_until(lambda: "evil-1" in loaded.aggregator.sessions(host=host), 15)
    at = run_page(monkeypatch, loaded.aggregator.url, session="evil-1", shost=host)
    tmux, resume = (c.value for c in at.code)
    assert powershell_split(resume) == [*ps_cd(cwd), ";", "claude", "--resume", "evil-1"]
    assert tmux == "tmux attach -t 'w:@1.%2]0;pwned exe.txt'"
    shown = markdown(at) + "".join(c.value for c in at.caption) + tmux + resume
    assert "t]0;pwned exe.txt" in shown
    assert unsafe_shown(shown) == []


def test_cards_of_sessions_on_one_branch_say_so(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """approve-1 and wait-1 both work on api@main: both cards carry "2 on this branch"."""
    text = markdown(run_page(monkeypatch, loaded.aggregator.url))
    assert text.count("2 on this branch") == 2
    detail = markdown(
        run_page(monkeypatch, loaded.aggregator.url, session="approve-1", shost=loaded.host)
    )
    assert "2 on this branch" in detail
