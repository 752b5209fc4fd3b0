"""Hook event -> published status, and Claude Code's registry word -> status (status.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sessionbeat.claude_code.events import STATUS_EVENTS
from sessionbeat.models import PublishedStatus
from sessionbeat.publisher.status import status_for_event, status_for_registry
from tests.conftest import FIXTURES, RECORDINGS, load_fixture


def implied(data: dict[str, Any]) -> PublishedStatus | None:
    """The status a whole hook payload implies, every field the rule looks at passed."""
    return status_for_event(
        data.get("hook_event_name"),
        data.get("notification_type"),
        data.get("message"),
        source=data.get("source"),
        trigger=data.get("trigger"),
        agent_type=data.get("agent_type"),
    )


@pytest.mark.parametrize(
    ("event", "ntype", "message", "status"),
    [
        ("SessionStart", None, None, PublishedStatus.WAITING_FOR_INPUT),
        ("UserPromptSubmit", None, None, PublishedStatus.WORKING),
        ("PreToolUse", None, None, PublishedStatus.WORKING),
        ("PostToolUse", None, None, PublishedStatus.WORKING),
        ("PostToolUseFailure", None, None, PublishedStatus.WORKING),
        ("SubagentStart", None, None, PublishedStatus.WORKING),
        ("SubagentStop", None, None, PublishedStatus.WORKING),
        ("PreCompact", None, None, PublishedStatus.WORKING),
        ("PostToolBatch", None, None, None),
        ("MessageDisplay", None, None, None),
        ("PermissionRequest", None, None, PublishedStatus.NEEDS_APPROVAL),
        ("Notification", "permission_prompt", None, PublishedStatus.NEEDS_APPROVAL),
        ("Stop", None, None, PublishedStatus.WAITING_FOR_INPUT),
        ("StopFailure", None, None, PublishedStatus.WAITING_FOR_INPUT),
        ("Notification", "idle_prompt", None, PublishedStatus.WAITING_FOR_INPUT),
        ("SessionEnd", None, None, PublishedStatus.ENDED),
        # Claude Code 1.0.48 sent no notification_type; the message decides (real texts).
        (
            "Notification",
            None,
            "Claude is waiting for your input",
            PublishedStatus.WAITING_FOR_INPUT,
        ),
        (
            "Notification",
            None,
            "Claude needs your permission to use Bash",
            PublishedStatus.NEEDS_APPROVAL,
        ),
        ("Notification", "auth_success", None, None),
        ("TaskCreated", None, None, None),
        ("FileChanged", None, None, None),
    ],
)
def test_status_table(
    event: str, ntype: str | None, message: str | None, status: PublishedStatus | None
) -> None:
    """Every event of docs/architecture.md's status table maps as specified; others only refresh."""
    assert status_for_event(event, ntype, message) == status


def test_registry_words() -> None:
    """busy/waiting/idle map to statuses; an unknown word is 'unknown', never guessed."""
    assert status_for_registry("busy") is PublishedStatus.WORKING
    assert status_for_registry("waiting") is PublishedStatus.NEEDS_APPROVAL
    assert status_for_registry("idle") is PublishedStatus.WAITING_FOR_INPUT
    assert status_for_registry("shell") is PublishedStatus.UNKNOWN
    assert status_for_registry(None) is None


def test_every_real_fixture_event_has_its_status() -> None:
    """Each real hook payload maps to the status of docs/architecture.md's table for its event."""
    expected = {
        "SessionStart": PublishedStatus.WAITING_FOR_INPUT,
        "UserPromptSubmit": PublishedStatus.WORKING,
        "PreToolUse": PublishedStatus.WORKING,
        "PostToolUse": PublishedStatus.WORKING,
        "PostToolUseFailure": PublishedStatus.WORKING,
        "SubagentStart": PublishedStatus.WORKING,
        "SubagentStop": PublishedStatus.WORKING,
        "PreCompact": PublishedStatus.WORKING,
        "PermissionRequest": PublishedStatus.NEEDS_APPROVAL,
        "Stop": PublishedStatus.WAITING_FOR_INPUT,
        "SessionEnd": PublishedStatus.ENDED,
    }
    by_file = {
        "hook-Notification-1.json": PublishedStatus.WAITING_FOR_INPUT,  # idle_prompt
        "hook-Notification-2.json": PublishedStatus.NEEDS_APPROVAL,  # permission_prompt
        "hook-Notification-3.json": PublishedStatus.WAITING_FOR_INPUT,  # 1.0.x, no type
        "hook-SubagentStop-1.json": None,  # agent_type "": an internal fork
    }
    for path in sorted(RECORDINGS.glob("hook-*.json")):
        data = load_fixture(path.name)
        event = data.get("hook_event_name")
        want = by_file[path.name] if path.name in by_file else expected[event]
        assert implied(data) is want, path.name
    assert set(expected) | {"Notification", "StopFailure", "PostCompact"} == STATUS_EVENTS


def test_an_internal_fork_stopping_implies_nothing() -> None:
    """SubagentStop with agent_type "" (a fork, e.g. after the turn ended) changes no status."""
    assert status_for_event("SubagentStop", agent_type="") is None
    assert status_for_event("SubagentStop", agent_type="Explore") is PublishedStatus.WORKING


def test_compaction_events() -> None:
    """SessionStart(compact) implies nothing; PostCompact ends a manual compaction, not auto."""
    assert status_for_event("SessionStart", source="compact") is None
    assert status_for_event("SessionStart", source="resume") is PublishedStatus.WAITING_FOR_INPUT
    assert status_for_event("PostCompact", trigger="manual") is PublishedStatus.WAITING_FOR_INPUT
    assert status_for_event("PostCompact", trigger="auto") is PublishedStatus.WORKING
    assert status_for_event("PostCompact") is None


def test_synthetic_events_outside_the_table_only_refresh() -> None:
    """Events the table does not list (documentation examples) imply no status change."""
    for path in sorted((FIXTURES / "synthetic").glob("hook-*.json")):
        event = load_fixture(f"synthetic/{path.name}")["hook_event_name"]
        if event not in STATUS_EVENTS:
            assert status_for_event(event) is None, event


def test_every_real_2_1_328_hook_has_its_status() -> None:
    """Hooks the real Claude Code 2.1.328 sent (captured offline) map as the table says."""
    expected = {
        "SessionStart": PublishedStatus.WAITING_FOR_INPUT,
        "UserPromptSubmit": PublishedStatus.WORKING,
        "PreToolUse": PublishedStatus.WORKING,
        "PostToolUse": PublishedStatus.WORKING,
        "SubagentStart": PublishedStatus.WORKING,
        "SubagentStop": PublishedStatus.WORKING,
        "PreCompact": PublishedStatus.WORKING,
        "PermissionRequest": PublishedStatus.NEEDS_APPROVAL,
        "Notification": PublishedStatus.NEEDS_APPROVAL,  # permission_prompt, ~6 s later
        "Stop": PublishedStatus.WAITING_FOR_INPUT,
        "PostCompact": PublishedStatus.WAITING_FOR_INPUT,  # trigger manual: /compact is done
        "SessionEnd": PublishedStatus.ENDED,
        "PostToolBatch": None,
        "MessageDisplay": None,
    }
    by_file = {
        "hook-SessionStart-3.json": None,  # source compact: compaction goes on
        "hook-SubagentStop-2.json": None,  # agent_type "": the /compact summarizer
    }
    folder = FIXTURES / "real-2.1.328"
    files = sorted(folder.glob("hook-*.json"))
    assert len(files) > 50
    for path in files:
        data = load_fixture(f"real-2.1.328/{path.name}")
        event = data["hook_event_name"]
        want = by_file[path.name] if path.name in by_file else expected[event]
        assert implied(data) is want, path.name
