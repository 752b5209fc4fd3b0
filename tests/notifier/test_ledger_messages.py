"""The ledger remembers what was sent across a restart; messages say what a person needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sessionbeat.models import NotifyKind
from sessionbeat.notifier import messages
from sessionbeat.notifier.ledger import Ledger
from sessionbeat.notifier.rules import Episode, EpisodeState, Facts, Send, StoredEpisode

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def episode(
    sid: str | None = "s1", kind: NotifyKind = NotifyKind.NEEDS_APPROVAL, **facts: object
) -> Episode:
    """A sent episode of session ``sid`` opened at T0."""
    base: dict[str, object] = {
        "host": "kai-server",
        "session_id": sid,
        "repo": "sessionbeat",
        "branch": "main",
        "task": "Fix the flaky test",
        "tool": "Bash",
        "detail": "npm test",
    }
    base.update(facts)
    return Episode(
        kind,
        "kai-server",
        sid,
        "Bash|npm test",
        T0,
        T0 + timedelta(seconds=5),
        Facts(**base),  # type: ignore[arg-type]
        EpisodeState.SENT,
        "sb-1",
    )


def test_sent_episodes_survive_a_restart_until_closed(tmp_path: Path) -> None:
    """What one ledger wrote, a new one on the same file reads back; closed rows stay closed."""
    path = tmp_path / "history.sqlite3"
    first = Ledger(path)
    first.open()
    first.record_sent([episode("a"), episode("b")], T0)
    first.record_closed([episode("b")], T0 + timedelta(minutes=1))
    first.close()
    again = Ledger(path)
    again.open()
    (stored,) = again.open_episodes(T0 + timedelta(minutes=2))
    assert stored == StoredEpisode(
        NotifyKind.NEEDS_APPROVAL, "kai-server", "a", "Bash|npm test", "sb-1", T0
    )
    assert again.open_episodes(T0 + timedelta(days=31)) == []  # older than keep_days
    again.close()


def test_an_unusable_ledger_file_is_survived(tmp_path: Path) -> None:
    """A path that cannot be a database: no exception, ``ok`` False, nothing read back."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ledger = Ledger(blocker / "history.sqlite3")
    ledger.open()
    ledger.record_sent([episode()], T0)
    assert ledger.open_episodes(T0) == []
    assert not ledger.ok


def test_one_approval_reads_host_repo_tool_wait_and_link() -> None:
    """The message names host, repo and branch, the command, the task, the wait and the link."""
    msg = messages.render(
        Send("sb-1", NotifyKind.NEEDS_APPROVAL, (episode(),)),
        T0 + timedelta(seconds=6),
        "http://kai-server:8501/",
    )
    assert msg.title == "kai-server · sessionbeat (main) needs approval"
    assert msg.body.splitlines() == [
        "Bash: npm test",
        "sessionbeat (main) · Fix the flaky test",
        "waiting 6 s",
        "http://kai-server:8501/?session=s1&shost=kai-server",
    ]
    assert msg.click == "http://kai-server:8501/?session=s1&shost=kai-server"
    assert msg.priority == "high"


def test_wire_text_is_cleaned_and_cut() -> None:
    """Control and bidi characters never reach a lock screen; a long command is cut."""
    nasty = episode(detail="rm -rf /\x1b[2J" + "x" * 500, repo="re\u202epo")
    msg = messages.render(Send("sb-1", NotifyKind.NEEDS_APPROVAL, (nasty,)), T0, None)
    assert "\x1b" not in msg.body and "\u202e" not in msg.title
    first = msg.body.splitlines()[0]
    assert first.endswith("…") and len(first) <= len("Bash: ") + messages.MAX_DETAIL
    assert msg.click is None


def test_a_batch_lists_each_session_and_links_to_the_waiting_ones() -> None:
    """Three approvals at once: "3 sessions need you", a line each, a link to the filtered page."""
    eps = tuple(episode(f"s{i}", repo=f"repo{i}") for i in range(3))
    msg = messages.render(Send("sb-1", NotifyKind.NEEDS_APPROVAL, eps), T0, "http://p:8501")
    assert msg.title == "3 sessions need you"
    assert [line.split(" · ")[1] for line in msg.body.splitlines()[:3]] == [
        "repo0 (main)",
        "repo1 (main)",
        "repo2 (main)",
    ]
    assert msg.click == "http://p:8501/?status=needs_approval"


def test_a_host_offline_message_counts_its_sessions() -> None:
    """A host's Last Will reads "<host> went offline" with its sessions."""
    ep = episode(None, NotifyKind.HOST_OFFLINE, sessions=3)
    msg = messages.render(
        Send("sb-2", NotifyKind.HOST_OFFLINE, (ep,)), T0 + timedelta(minutes=2), None
    )
    assert msg.title == "kai-server went offline"
    assert msg.body == "offline for 2 min; 3 sessions on it"
