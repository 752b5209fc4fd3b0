"""The agent's logic with the real host readers on temp dirs (publisher/core.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sessionbeat.claude_code.registry import linux_proc_start
from sessionbeat.models import PublishedStatus
from sessionbeat.publisher.core import AgentCore, CoreConfig
from sessionbeat.publisher.ipc import EventKind, HostEvent
from sessionbeat.publisher.readers import ClaudeReaders
from sessionbeat.publisher.spool import SessionStore
from sessionbeat.settings import load_settings
from tests.conftest import FIXTURES, RECORDINGS, fixture_bytes, fixture_path, short_tmpdir

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SID = "7da73774-862d-4897-94a7-ef847ce65033"


def event(name: str, at: datetime, kind: EventKind = EventKind.HOOK, pid: int = 1) -> HostEvent:
    raw = fixture_path(name).read_bytes() if kind is EventKind.STATUSLINE else fixture_bytes(name)
    return HostEvent(kind, int(at.timestamp() * 1e9), pid, 0, 0, raw)


@pytest.fixture
def core() -> AgentCore:
    """An AgentCore for host 'laptop' with real readers and a store in a temp dir."""
    state = short_tmpdir()
    settings = load_settings(state_dir=state, claude_config_dir=state / "claude", host="laptop")
    return AgentCore(
        "laptop",
        ClaudeReaders(settings),
        CoreConfig(heartbeat_interval=30, ended_linger=300, reap_after=1800),
        SessionStore(state / "sessions"),
    )


def test_each_hook_gives_one_beat_with_rising_seq(core: AgentCore) -> None:
    """Every hook event becomes one beat; seq rises; sent_at is the agent's now."""
    beats = [
        b
        for i, name in enumerate(["hook-SessionStart-1.json", "hook-UserPromptSubmit-1.json"])
        for b in core.handle(
            event(name, T0 + timedelta(seconds=i)), T0 + timedelta(seconds=i, milliseconds=5)
        )
    ]
    assert [(b.seq, b.status) for b in beats] == [
        (1, PublishedStatus.WAITING_FOR_INPUT),
        (2, PublishedStatus.WORKING),
    ]
    assert beats[1].sent_at == T0 + timedelta(seconds=1, milliseconds=5)
    assert beats[1].repo == "cka-buddy"


def test_a_delivery_seen_twice_is_applied_once(core: AgentCore) -> None:
    """The same event (lost ack, then the inbox copy) never produces a second beat."""
    ev = event("hook-SessionStart-1.json", T0)
    assert len(core.handle(ev, T0)) == 1
    assert core.handle(ev, T0) == []
    assert core.counters.duplicates == 1


def test_bad_input_is_counted_not_raised(core: AgentCore) -> None:
    """Non-JSON and ids unusable in a topic are counted per reason and produce nothing."""
    bad = HostEvent(EventKind.HOOK, 1, 2, 0, 0, b"{not json")
    slash = HostEvent(EventKind.HOOK, 2, 2, 0, 0, b'{"session_id":"a/b#"}')
    assert core.handle(bad, T0) == core.handle(slash, T0) == []
    assert dict(core.counters.bad_events) == {"bad_hook_json": 1, "bad_session_id": 1}


def test_heartbeat_refreshes_quiet_sessions_and_stops_for_ended(core: AgentCore) -> None:
    """A waiting session is re-sent every heartbeat interval; an ended one is not."""
    core.handle(event("hook-SessionStart-1.json", T0), T0)
    assert core.tick(T0 + timedelta(seconds=10)) == []
    (beat,) = core.tick(T0 + timedelta(seconds=31))
    assert (beat.heartbeat, beat.seq, beat.status) == (True, 2, PublishedStatus.WAITING_FOR_INPUT)
    core.handle(
        event("hook-SessionEnd-1.json", T0 + timedelta(seconds=40)), T0 + timedelta(seconds=40)
    )
    assert core.tick(T0 + timedelta(seconds=100)) == []
    core.tick(T0 + timedelta(seconds=400))  # after ended_linger the session is forgotten
    assert SID not in core.sessions


def test_status_line_gives_the_exact_window(core: AgentCore) -> None:
    """A status-line reading sets context tokens and the exact window; hooks don't undo it."""
    (beat,) = core.handle(event("statusline-4.json", T0, EventKind.STATUSLINE), T0)
    assert (beat.context_tokens, beat.context_window, beat.model) == (
        318_156,
        1_000_000,
        "claude-opus-5",
    )
    assert beat.task == "Wire the retry budget"  # the session name is the fallback task
    same = HostEvent(
        EventKind.STATUSLINE, 99, 1, 0, 0, (RECORDINGS / "statusline-4.json").read_bytes()
    )
    assert core.handle(same, T0) == []  # nothing changed: no beat


def test_restart_restores_seq_and_started_at(core: AgentCore) -> None:
    """A new agent on the same state dir continues seq and keeps started_at."""
    core.handle(event("hook-SessionStart-1.json", T0), T0)
    core.handle(event("hook-UserPromptSubmit-1.json", T0 + timedelta(seconds=1)), T0)
    assert core.store is not None
    again = AgentCore("laptop", core.readers, core.config, SessionStore(core.store.directory))
    assert again.restore() == 1
    (beat,) = again.handle(event("hook-Stop-1.json", T0 + timedelta(seconds=2)), T0)
    assert (beat.seq, beat.started_at) == (3, T0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="procStart from /proc")
def test_registry_only_session_appears_and_its_status_wins(
    core: AgentCore, claude_process: subprocess.Popen[bytes]
) -> None:
    """A session without our hooks appears from Claude's registry; its status word rules."""
    assert isinstance(core.readers, ClaudeReaders)
    registry = Path(core.readers.claude_config_dir) / "sessions"
    registry.mkdir(parents=True)
    path = registry / f"{claude_process.pid}.json"
    doc = {
        "pid": claude_process.pid,
        "sessionId": "reg-1",
        "cwd": str(registry),
        "startedAt": int(time.time() * 1000),
        "procStart": linux_proc_start(claude_process.pid),
        "status": "busy",
        "name": "Refactor the parser",
    }
    path.write_text(json.dumps(doc))
    now = datetime.now(UTC)
    (beat,) = core.tick(now)
    assert (beat.session_id, beat.status, beat.status_source.value) == (
        "reg-1",
        PublishedStatus.WORKING,
        "registry",
    )
    assert beat.task == "Refactor the parser"
    assert core.tick(now + timedelta(seconds=2)) == []  # unchanged: no beat
    path.write_text(json.dumps(dict(doc, status="shell")))
    (beat,) = core.tick(now + timedelta(seconds=4))
    assert (beat.status, beat.registry_status) == (PublishedStatus.UNKNOWN, "shell")
    claude_process.kill()
    claude_process.wait()
    (beat,) = core.tick(now + timedelta(seconds=6))
    assert (beat.status, beat.end_reason) == (PublishedStatus.ENDED, "process_exit")


def test_a_compaction_written_after_the_last_hook_reaches_the_next_tick(core: AgentCore) -> None:
    """/compact writes its boundary just after its last hook: the next tick sends the new size.

    The transcript is the real 2.1.62 one of tests/fixtures; the appended boundary line has the
    documented shape (docs/claude-code-formats.md section 3.2) with a post-compaction count.
    """
    transcript = short_tmpdir() / "t.jsonl"
    transcript.write_bytes((FIXTURES / "transcript-1.jsonl").read_bytes())
    start = json.loads(fixture_bytes("hook-SessionStart-1.json"))
    raw = json.dumps(dict(start, transcript_path=str(transcript))).encode()
    (beat,) = core.handle(HostEvent(EventKind.HOOK, int(T0.timestamp() * 1e9), 1, 0, 0, raw), T0)
    assert beat.context_tokens == 103_530
    assert core.tick(T0 + timedelta(seconds=1)) == []  # unchanged: one stat, no beat
    boundary = {
        "type": "system",
        "subtype": "compact_boundary",
        "compactMetadata": {"trigger": "manual", "preTokens": 103_530, "postTokens": 8_211},
    }
    with transcript.open("a") as f:
        f.write(json.dumps(boundary) + "\n")
    (beat,) = core.tick(T0 + timedelta(seconds=2))
    assert (beat.context_tokens, beat.heartbeat) == (8_211, False)
