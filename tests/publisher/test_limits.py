"""The agent's size caps: free text cut with a marker, lists bounded, beats that fit.

publisher/limits.py, as the session (publisher/session.py) and the todo list
(publisher/activity.py) apply it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.models import MAX_PAYLOAD_BYTES, PublishedStatus, SessionBeat
from sessionbeat.publisher.activity import TodoItem
from sessionbeat.publisher.beat import to_beat
from sessionbeat.publisher.limits import (
    IDS_MAX,
    MARKER_END,
    NAME_MAX,
    PATH_MAX,
    PUBLISH_OVERHEAD,
    TEXT_MAX,
    TODOS_MAX,
    BeatEncoder,
    cut,
    fit_beat,
    payload_limit,
)
from sessionbeat.publisher.reducers import apply_hook
from sessionbeat.publisher.session import LocalSession, new_session
from sessionbeat.publisher.spool import SessionStore
from tests.conftest import FIXTURES, RECORDINGS, short_tmpdir

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SID = "7da73774-862d-4897-94a7-ef847ce65033"


def test_cut_keeps_short_text_and_marks_long_text() -> None:
    """Text within its cap is untouched; longer text keeps its start and says how much went."""
    assert cut("short", 10) == "short"
    text = "x" * 300_000
    once = cut(text, 1000)
    assert len(once) <= 1000 and once.endswith(MARKER_END)
    removed = int(once.rsplit("[cut ", 1)[1].removesuffix(MARKER_END))
    assert once.startswith("x" * 900) and once.index("…") + removed == len(text)
    assert cut(once, 1000) == once  # cutting again changes nothing
    assert cut(text, 5) == "xxxxx"  # below the marker's length only the start is kept


def _inputs() -> list[Path]:
    """Every recorded and fixture hook input (real Claude Code payloads and synthetic ones)."""
    return sorted(RECORDINGS.glob("hook-*.json")) + sorted(FIXTURES.rglob("hook-*.json"))


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_real_input_is_cut(path: Path) -> None:
    """The caps leave real sessions alone: no recorded input loses a character."""
    hook = HookInput.model_validate_json(path.read_bytes())
    session = apply_hook(None, hook, T0, "kai-server", include_detail=True, detail_max_chars=2000)
    dumped = session.model_dump_json() + to_beat(session, T0).model_dump_json()
    assert "[cut " not in dumped


def test_a_huge_todo_title_and_cwd_are_cut_where_they_enter() -> None:
    """A 300k-character todo, a 70k title and a 100k cwd: the session holds them cut."""
    hook = HookInput.model_validate(
        {
            "session_id": SID,
            "hook_event_name": "PreToolUse",
            "cwd": "/" + "d" * 100_000,
            "session_title": "t" * 70_000,
            "tool_name": "TodoWrite",
            "tool_input": {
                "todos": [{"content": "c" * 300_000, "status": "in_progress", "activeForm": "a"}]
                * (TODOS_MAX + 5)
            },
        }
    )
    session = apply_hook(None, hook, T0, "kai-server")
    assert len(session.todos) == TODOS_MAX
    assert len(session.todos[0].content) <= TEXT_MAX and session.todos[0].content.endswith(
        MARKER_END
    )
    assert session.cwd is not None and len(session.cwd) <= PATH_MAX
    assert session.title is not None and len(session.title) <= TEXT_MAX
    beat = to_beat(session, T0)
    assert len(beat.model_dump_json()) < 8 * 1024


def test_values_set_later_or_loaded_from_disk_are_cut_too() -> None:
    """Any assignment and any state file read back goes through the same caps."""
    session = new_session(SID, "kai-server", T0)
    session.branch = "b" * 10_000
    session.running_agents = [f"agent-{n}" for n in range(IDS_MAX + 10)]
    assert session.branch is not None and len(session.branch) <= NAME_MAX
    assert session.running_agents[0] == "agent-10" and len(session.running_agents) == IDS_MAX
    item = TodoItem(content="x")
    item.content = "y" * 5000
    assert len(item.content) <= TEXT_MAX
    # A state file an older agent wrote with a 300k-character todo loads cut.
    directory = short_tmpdir() / "sessions"
    directory.mkdir()
    old = new_session(SID, "kai-server", T0).model_dump(mode="json")
    old["todos"] = [{"content": "z" * 300_000, "status": "in_progress"}]
    (directory / f"{SID}.json").write_text(json.dumps(old))
    (loaded,) = SessionStore(directory).load_all()
    assert len(loaded.todos[0].content) <= TEXT_MAX
    assert loaded.task is not None and loaded.task.startswith("zzz")


def test_subagent_ids_longer_than_the_cap_still_pair() -> None:
    """A SubagentStop finds its SubagentStart even when the agent id had to be cut."""
    long_id = "a" * (NAME_MAX + 50)
    start = HookInput(
        session_id=SID, hook_event_name="SubagentStart", agent_id=long_id, agent_type="x"
    )
    stop = HookInput(session_id=SID, hook_event_name="SubagentStop", agent_id=long_id)
    session = apply_hook(None, start, T0, "h")
    assert session.subagents == 1
    assert apply_hook(session, stop, T0, "h").subagents == 0


def beat(**fields: object) -> SessionBeat:
    """A beat of session SID on host ``kai-server`` with extra fields."""
    return SessionBeat.model_validate(
        {
            "host": "kai-server",
            "session_id": SID,
            "status": PublishedStatus.WORKING,
            "seq": 4,
            "sent_at": T0,
            **fields,
        }
    )


def test_a_beat_that_does_not_fit_goes_out_minimal() -> None:
    """Over the limit: status, ids and what orders it only, marked truncated; tiny: nothing."""
    big = beat(
        cwd="/" + "\x01" * PATH_MAX, task="\x02" * TEXT_MAX, bdseq=7, started_at=T0
    )  # JSON: 6 bytes a char
    full, minimal = fit_beat(big, MAX_PAYLOAD_BYTES)
    assert (minimal, full) == (False, big.model_dump_json(exclude_none=True).encode())
    payload, minimal = fit_beat(big, 2000)
    assert minimal and payload is not None and len(payload) <= 2000
    sent = SessionBeat.model_validate_json(payload)
    assert (sent.status, sent.seq, sent.cwd, sent.model_extra) == (
        PublishedStatus.WORKING,
        4,
        None,
        {"truncated": True},
    )
    assert (sent.bdseq, sent.started_at) == (7, T0)  # the aggregator still orders it
    assert fit_beat(big, 100) == (None, True)


def test_the_payload_limit_follows_the_brokers_maximum_packet_size() -> None:
    """No announced limit: 64 KiB; a small Maximum Packet Size leaves room for topic and header."""
    topic = f"sessionbeat/v1/kai-server/sessions/{SID}"
    assert payload_limit(topic, None) == MAX_PAYLOAD_BYTES
    assert payload_limit(topic, 262_144) == MAX_PAYLOAD_BYTES
    assert payload_limit(topic, 2048) == 2048 - len(topic) - PUBLISH_OVERHEAD


def test_spooled_payloads_are_refitted_to_a_smaller_broker_and_counted() -> None:
    """A beat spooled for a roomy broker goes out minimal to a stricter one; garbage not at all."""
    encoder = BeatEncoder()
    big = beat(cwd="/" + "p" * 3000)
    topic, payload = encoder.encode(big)
    assert payload is not None and encoder.minimal == 0
    encoder.broker_max = 2048
    refitted = encoder.refit(topic, payload)
    assert refitted is not None and SessionBeat.model_validate_json(refitted).cwd is None
    assert encoder.refit(topic, b"x" * 3000) is None
    assert (encoder.minimal, encoder.dropped) == (1, 1)
    assert encoder.refit(topic, b'{"small": true}') == b'{"small": true}'  # fits: as it was


def test_a_session_restored_with_oversized_lists_keeps_the_newest() -> None:
    """Todo lists and running ids read back from disk keep their newest entries."""
    data = LocalSession(
        session_id=SID, host="h", started_at=T0, last_activity_at=T0, last_event_at=T0
    ).model_dump(mode="json")
    data["todos"] = [{"content": f"todo {n}"} for n in range(TODOS_MAX + 3)]
    data["running_task_tools"] = [f"toolu_{n}" for n in range(IDS_MAX + 3)]
    loaded = LocalSession.model_validate(data)
    assert [t.content for t in loaded.todos][:1] == ["todo 3"] and len(loaded.todos) == TODOS_MAX
    assert loaded.running_task_tools[0] == "toolu_3"
