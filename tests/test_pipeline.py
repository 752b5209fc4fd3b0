"""End to end on real parts: real hook payloads through every component.

`sessionbeat publish` -> agent -> Mosquitto -> aggregator -> `GET /sessions` and
`sessionbeat sessions list --json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.cli import app
from sessionbeat.stack.replay import SESSIONS, load_payload
from tests.conftest import RECORDINGS, short_tmpdir
from tests.procs import Agent, Aggregator, wait_until

HOSTS = iter(range(1_000_000))

# The status, repo and other fields a user must see for each recorded session once all of
# its hook events went through (derivation: the status table of docs/architecture.md; repo of a
# path that does not exist on this machine = its last component; old 1.0.48 payloads carry no
# cwd).
EXPECTED: dict[str, dict[str, Any]] = {
    "7da73774-862d-4897-94a7-ef847ce65033": {
        "published_status": "ended",
        "end_reason": "prompt_input_exit",
        "repo": "cka-buddy",
        "event": "SessionEnd",
        "subagents": 0,
        "model": "claude-opus-4-6",
        "tool": None,
    },
    "1577d3a9-a064-4674-becd-523c39f524a7": {
        "published_status": "ended",
        "end_reason": "clear",
        "repo": "cka-buddy",
        "permission_mode": "default",  # plan mode was left before the approval
    },
    "ec846986-c581-4e68-93c8-9ab26ec047ad": {
        "published_status": "waiting_for_input",
        "repo": "cka-buddy",
        "event": "SessionStart",
    },
    "f8d35a13-2f8d-429d-8cc8-7b84a3d7319d": {
        "published_status": "working",
        "repo": "cka-buddy",
        "subagents": 0,
    },
    "67de0528-46aa-4c7c-81ce-92a028dc4ccb": {"published_status": "working", "subagents": 0},
    "e36adb37-e430-4374-ab46-6bfccabf8d41": {
        "published_status": "waiting_for_input",
        "repo": "fastapi-mqtt-gateway",
        "permission_mode": "bypassPermissions",
        "event": "Stop",
        "tool": None,
    },
    "21da9dd0-cce2-402a-b272-b20bdea402ac": {
        "published_status": "working",
        "repo": None,
        "cwd": None,
        "tool": "Task",
        "subagents": 1,
    },
    "8c11739b-1327-4ad9-aeaa-bf8c8b1acd81": {
        "published_status": "waiting_for_input",
        "event": "Notification",
    },
    "90818123-fca7-4691-9e06-f4bdbdfadc1a": {"published_status": "working"},
    "2920d754-7949-4704-9921-7934d806e588": {
        "published_status": "working",
        "repo": "livestream-copilot",
        "event": "PreCompact",
    },
}


@pytest.fixture
def stack(broker: LocalBroker) -> Iterator[tuple[Agent, Aggregator]]:
    """A real agent and aggregator; a host id per test (the broker keeps retained state)."""
    root = short_tmpdir()
    aggregator = Aggregator(broker.url, root / "aggregator")
    agent = Agent(broker.url, root / "agent", f"kai-server-{next(HOSTS)}")
    try:
        yield agent, aggregator
    finally:
        agent.stop()
        aggregator.stop()


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_every_real_hook_payload_is_covered_once() -> None:
    """The replay groups use each real hook fixture exactly once (synthetic ones excluded)."""
    files = [f for s in SESSIONS for f in s.files]
    assert sorted(files) == sorted(p.name for p in RECORDINGS.glob("hook-*.json"))
    assert len(files) == len(set(files)) == 32


def test_real_sessions_reach_the_api_with_the_right_status(
    stack: tuple[Agent, Aggregator],
) -> None:
    """Each recorded session shows up with the expected status, host, repo and timestamps."""
    agent, aggregator = stack
    before = datetime.now(UTC)
    for session in SESSIONS:
        for name in session.files:
            result = agent.publish(load_payload(name))
            assert (result.returncode, result.stdout) == (0, b"")
    after = datetime.now(UTC)

    def all_final() -> dict[str, dict[str, Any]] | None:
        seen = aggregator.sessions(host=agent.host)
        done = all(
            sid in seen
            and seen[sid]["published_status"] == exp["published_status"]
            and seen[sid]["seq"] >= 1
            for sid, exp in EXPECTED.items()
        )
        return seen if done else None

    seen = wait_until(all_final, 15)
    for sid, expected in EXPECTED.items():
        view = seen[sid]
        assert view["host"] == agent.host
        for field, value in expected.items():
            assert view[field] == value, (sid, field, view[field])
        started, last = _iso(view["started_at"]), _iso(view["last_activity_at"])
        assert before <= started <= last <= after
    # The ended sessions are hidden from the default list; the rest are live.
    live = {s["session_id"] for s in aggregator.get("/sessions", host=agent.host)}
    assert live == {sid for sid, e in EXPECTED.items() if e["published_status"] != "ended"}


def test_needs_approval_is_visible_while_the_approval_waits(
    stack: tuple[Agent, Aggregator],
) -> None:
    """Mid-session, a PermissionRequest shows as needs_approval with the waiting tool."""
    agent, aggregator = stack
    sid = "7da73774-862d-4897-94a7-ef847ce65033"
    files = next(s.files for s in SESSIONS if "hook-SessionStart-1.json" in s.files)
    upto = files[: files.index("hook-Notification-2.json") + 1]
    for name in upto:
        agent.publish(load_payload(name))
    view = wait_until(
        lambda: (
            (s := aggregator.sessions(host=agent.host).get(sid)) and s["seq"] >= len(upto) and s
        ),
        15,
    )
    assert view["status"] == "needs_approval"
    assert view["tool"] == "AskUserQuestion"
    assert view["subagents"] == 1  # the Explore subagent started and not yet stopped
    assert view["waiting_seconds"] is not None
    summary = aggregator.get("/summary")
    assert summary["by_host"][agent.host] == 1
    assert summary["needs_approval"] >= 1
    assert "1 needs you" in summary["title"]  # README: GET /summary title


def test_sessions_list_json_equals_the_api(stack: tuple[Agent, Aggregator]) -> None:
    """`sessionbeat sessions list --json` prints exactly what GET /sessions returns."""
    agent, aggregator = stack
    for name in ("hook-UserPromptSubmit-3.json", "hook-PreToolUse-3.json"):
        agent.publish(load_payload(name))
    # Both beats have landed once the session shows the second one (PreToolUse, seq 2); then
    # the CLI and the API read the same state back to back.
    wait_until(
        lambda: any(
            s["event"] == "PreToolUse" and s["seq"] >= 2
            for s in aggregator.get("/sessions", host=agent.host)
        ),
        15,
        what="the PreToolUse beat",
    )
    result = CliRunner().invoke(
        app, ["--api-url", aggregator.url, "sessions", "list", "--json", "--host", agent.host]
    )
    api = aggregator.get("/sessions", host=agent.host)
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    strip = ("age_seconds", "idle_seconds", "last_seen_seconds", "waiting_seconds")
    assert [{k: v for k, v in s.items() if k not in strip} for s in cli] == [
        {k: v for k, v in s.items() if k not in strip} for s in api
    ]
    assert cli[0]["repo"] == "fastapi-mqtt-gateway"
    assert cli[0]["status"] == "working"
