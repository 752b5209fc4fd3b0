"""Hook events -> a session's status, tool, task and subagents (publisher/reducers.py, beat.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.models import PublishedStatus, StatusSource
from sessionbeat.publisher.beat import to_beat
from sessionbeat.publisher.reducers import (
    apply_context,
    apply_hook,
    apply_registry,
    mark_process_exit,
)
from sessionbeat.publisher.session import LocalSession, RegistryReading
from tests.conftest import load_fixture

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def replay(*items: str | dict[str, Any], **kw: Any) -> LocalSession:
    """Apply fixture files (or dicts) one second apart; return the final session."""
    session: LocalSession | None = None
    for i, item in enumerate(items):
        data = load_fixture(item) if isinstance(item, str) else item
        session = apply_hook(
            session, HookInput.model_validate(data), T0 + timedelta(seconds=i), "kai-server", **kw
        )
    assert session is not None
    return session


def test_real_session_lifecycle() -> None:
    """The recorded cka-buddy session: model, approval with its tool, then a clean end."""
    s = replay(
        "hook-SessionStart-1.json",
        "hook-UserPromptSubmit-1.json",
        "hook-PreToolUse-2.json",
        "hook-PermissionRequest-2.json",
    )
    assert s.status is PublishedStatus.NEEDS_APPROVAL
    assert (s.tool, s.model, s.detail) == ("AskUserQuestion", "claude-opus-4-6", None)
    s = replay(
        "hook-SessionStart-1.json", "hook-PermissionRequest-2.json", "hook-Notification-2.json"
    )
    assert (s.status, s.tool) == (PublishedStatus.NEEDS_APPROVAL, "AskUserQuestion")
    s = replay("hook-SessionStart-1.json", "hook-Stop-1.json", "hook-SessionEnd-1.json")
    assert (s.status, s.end_reason, s.tool) == (PublishedStatus.ENDED, "prompt_input_exit", None)
    assert s.started_at == T0


def test_approval_detail_is_opt_in_and_truncated() -> None:
    """The waiting command is published only when enabled, on one line, cut to the limit."""
    s = replay("hook-PermissionRequest-1.json")
    assert (s.tool, s.detail) == ("Bash", None)
    s = replay("hook-PermissionRequest-1.json", include_detail=True, detail_max_chars=40)
    assert s.detail is not None
    assert s.detail.startswith("wc -l /Users/akinpound/")
    assert len(s.detail) == 40
    assert s.detail.endswith("…")


def test_subagents_pair_by_agent_id_and_ignore_stray_stops() -> None:
    """Start/Stop pair by agent_id; forks (agent_type "") and unmatched stops do not count."""
    start = load_fixture("hook-SubagentStart-1.json")
    s = replay(start, "hook-SubagentStop-1.json", "hook-SubagentStop-3.json")
    assert s.subagents == 1  # the Explore agent runs; the fork and the builder stop are strays
    stop = dict(
        load_fixture("hook-SubagentStop-2.json"),
        agent_id=start["agent_id"],
        session_id=start["session_id"],
    )
    s = replay(start, stop, "hook-SubagentStop-1.json")
    assert s.subagents == 0
    assert replay("hook-SubagentStop-2.json").subagents == 0  # never negative


def test_old_task_tool_counts_as_a_running_subagent() -> None:
    """1.0.48 had no SubagentStart: a foreground Task call counts until the turn ends."""
    s = replay("hook-PreToolUse-5.json")
    assert (s.subagents, s.tool, s.status) == (1, "Task", PublishedStatus.WORKING)
    stop = dict(load_fixture("hook-Stop-3.json"), session_id=s.session_id)
    assert replay("hook-PreToolUse-5.json", stop).subagents == 0


def test_background_task_does_not_count_as_foreground() -> None:
    """A Task with run_in_background (real 2.1.62 payload) is tracked by SubagentStart instead."""
    s = replay("hook-SubagentStart-1.json", "hook-PostToolUse-1.json")
    assert s.subagents == 1


def test_todowrite_in_progress_item_is_the_task() -> None:
    """TodoWrite's full list: the in_progress item (its activeForm) is the session's task."""
    todos = load_fixture("hook-PreToolUse-4.json")
    assert replay(todos).task is None  # the real list has only pending items
    started = dict(
        todos,
        tool_input={
            "todos": [
                {
                    "content": "Add refresh_config()",
                    "status": "completed",
                    "activeForm": "Adding it",
                },
                {
                    "content": "Add --refresh-config flag",
                    "status": "in_progress",
                    "activeForm": "Adding the --refresh-config flag",
                },
            ]
        },
    )
    assert replay(todos, started).task == "Adding the --refresh-config flag"


def test_task_create_and_update_by_id() -> None:
    """TaskCreate/TaskUpdate (2.1.16+) build the list incrementally by id.

    No real capture of these tools exists in the fixtures; the inputs follow the documented
    shapes (docs/claude-code-formats.md section 3.4) on a real session's envelope.
    """
    base = {
        k: v
        for k, v in load_fixture("hook-PostToolUse-3.json").items()
        if k in ("session_id", "transcript_path", "cwd", "permission_mode")
    }
    create = dict(
        base,
        hook_event_name="PostToolUse",
        tool_name="TaskCreate",
        tool_input={"subject": "Write the parser", "activeForm": "Writing the parser"},
        tool_response={"task": {"id": "1", "subject": "Write the parser"}},
    )
    start = dict(
        base,
        hook_event_name="PreToolUse",
        tool_name="TaskUpdate",
        tool_input={"taskId": "1", "status": "in_progress"},
    )
    done = dict(start, tool_input={"taskId": "1", "status": "completed"})
    delete = dict(start, tool_input={"taskId": "1", "status": "deleted"})
    assert replay(create, start).task == "Writing the parser"
    assert replay(create, start, done).task is None
    assert replay(create, delete).todos == []


def test_title_is_the_fallback_task() -> None:
    """With no todo in progress, the session title (when Claude Code sends one) is the task."""
    prompt = dict(load_fixture("hook-UserPromptSubmit-1.json"), session_title="Fun TUI")
    assert replay(prompt).task == "Fun TUI"


def test_older_event_does_not_override_newer_status() -> None:
    """Async hooks race: an event stamped earlier than the last one keeps the newer status."""
    s = replay("hook-SessionStart-1.json", "hook-Stop-1.json")
    late = apply_hook(
        s, HookInput.model_validate(load_fixture("hook-PreToolUse-1.json")), T0, "kai-server"
    )
    assert late.status is PublishedStatus.WAITING_FOR_INPUT
    assert late.event == "Stop"


def test_newer_registry_reading_wins_and_process_exit_ends() -> None:
    """A registry reading newer than the last hook decides; a dead process ends the session."""
    s = replay("hook-SessionStart-1.json", "hook-UserPromptSubmit-1.json")
    idle = RegistryReading(
        s.session_id, 4242, "idle", True, 1.0, status_at=T0 + timedelta(seconds=5)
    )
    s = apply_registry(s, idle, T0 + timedelta(seconds=5))  # Esc fired no hook
    assert (s.status, s.status_source, s.pid) == (
        PublishedStatus.WAITING_FOR_INPUT,
        StatusSource.REGISTRY,
        4242,
    )
    s = mark_process_exit(s, T0 + timedelta(minutes=1))
    beat = to_beat(s, T0 + timedelta(minutes=1))
    assert (beat.status, beat.end_reason, beat.status_source) == (
        PublishedStatus.ENDED,
        "process_exit",
        StatusSource.HOOK,
    )


def test_windows_and_old_payloads_parse() -> None:
    """A Windows PreCompact (null custom_instructions) and a 1.0.48 payload without cwd work."""
    s = replay("hook-PreCompact-1.json")
    assert s.cwd is not None
    assert s.cwd.endswith("livestream-copilot")
    old = replay("hook-Stop-3.json")
    assert (old.cwd, old.status) == (None, PublishedStatus.WAITING_FOR_INPUT)


WORK, ASK, IDLE, END = (
    PublishedStatus.WORKING,
    PublishedStatus.NEEDS_APPROVAL,
    PublishedStatus.WAITING_FOR_INPUT,
    PublishedStatus.ENDED,
)

# Real hooks of one recorded session (7da73774, Claude Code 2.1.62, the cka-buddy fixtures) in a
# plausible order, with what the phone must show after each: (status, tool, subagents).
CKA_BUDDY = [
    ("hook-SessionStart-1.json", IDLE, None, 0),
    ("hook-UserPromptSubmit-1.json", WORK, None, 0),
    ("hook-PreToolUse-1.json", WORK, "Read", 0),
    ("hook-PostToolUse-3.json", WORK, None, 0),
    ("hook-PreToolUse-2.json", WORK, "AskUserQuestion", 0),
    ("hook-PermissionRequest-2.json", ASK, "AskUserQuestion", 0),
    ("hook-Notification-2.json", ASK, "AskUserQuestion", 0),  # permission_prompt, ~6 s later
    ("hook-PostToolUseFailure-1.json", WORK, None, 0),
    ("hook-SubagentStart-1.json", WORK, None, 1),  # Explore
    ("hook-PostToolUse-1.json", WORK, None, 1),  # the Task call returned: async_launched
    ("hook-SubagentStop-1.json", WORK, None, 1),  # agent_type "": an internal fork, no status
    ("hook-PostToolUse-2.json", WORK, None, 1),  # TaskOutput
    ("hook-Stop-1.json", IDLE, None, 1),  # the background Explore agent still runs
    ("hook-Notification-1.json", IDLE, None, 1),  # idle_prompt
    ("hook-SessionEnd-1.json", END, None, 0),
]


def test_real_session_step_by_step() -> None:
    """Each real hook of one session moves status, tool and subagents as the phone expects."""
    session: LocalSession | None = None
    for i, (name, status, tool, subagents) in enumerate(CKA_BUDDY):
        hook = HookInput.model_validate(load_fixture(name))
        session = apply_hook(session, hook, T0 + timedelta(seconds=i), "kai-server")
        assert (session.status, session.tool, session.subagents) == (status, tool, subagents), name
        assert session.event == hook.hook_event_name
    assert session is not None
    assert (session.end_reason, session.model) == ("prompt_input_exit", "claude-opus-4-6")
    assert session.cwd == "/Users/akinpound/Documents/cka-buddy"


def test_fork_subagent_start_is_ignored() -> None:
    """A SubagentStart with agent_type "" (an internal fork) never counts as running."""
    start = load_fixture("hook-SubagentStart-1.json")
    fork = dict(start, agent_type="", agent_id="a1bd57933302dbc79")
    s = replay(fork, "hook-SubagentStop-1.json")  # the real stop of that fork
    assert s.subagents == 0
    assert replay(fork).subagents == 0
    assert replay("hook-SubagentStop-4.json").subagents == 0  # no agent_id at all (old)


def test_two_subagents_pair_by_id_not_by_order() -> None:
    """Two agents stopping in the other order leave the right one running."""
    start = load_fixture("hook-SubagentStart-1.json")
    first, second = dict(start, agent_id="a-1"), dict(start, agent_id="a-2")
    stop = dict(load_fixture("hook-SubagentStop-2.json"), session_id=start["session_id"])
    s = replay(first, second, dict(stop, agent_id="a-2"))
    assert (s.subagents, s.running_agents) == (1, ["a-1"])
    s = replay(first, second, dict(stop, agent_id="a-2"), dict(stop, agent_id="a-2"))
    assert s.subagents == 1  # a duplicate stop changes nothing


def test_task_created_and_completed_events() -> None:
    """TaskCreated/TaskCompleted hook events keep the list too.

    No real capture exists; the inputs are the documentation examples in
    fixtures/claude-code/synthetic (docs/claude-code-formats.md section 1.1).
    """
    created = load_fixture("synthetic/hook-TaskCreated-1.json")
    completed = load_fixture("synthetic/hook-TaskCompleted-1.json")
    update = dict(
        created,
        hook_event_name="PreToolUse",
        tool_name="TaskUpdate",
        tool_input={"taskId": "task-001", "status": "in_progress"},
    )
    s = replay(created, update)
    assert [(t.id, t.content, t.status) for t in s.todos] == [
        ("task-001", "Implement user authentication", "in_progress")
    ]
    assert s.task == "Implement user authentication"
    s = replay(created, update, completed)
    assert (s.todos[0].status, s.task) == ("completed", None)
    assert len(replay(created, created).todos) == 1  # the same event twice: one task


def test_task_tools_with_numeric_ids_and_created_event_first() -> None:
    """Numeric task ids match; a TaskCreated event before the tool result is not doubled.

    No real capture of TaskCreate/TaskCreated exists; shapes from docs section 3.4.
    """
    created = load_fixture("synthetic/hook-TaskCreated-1.json")
    event = dict(created, task_id="7", task_subject="Write the parser")
    tool = dict(
        created,
        hook_event_name="PostToolUse",
        tool_name="TaskCreate",
        tool_input={"subject": "Write the parser", "activeForm": "Writing the parser"},
        tool_response={"task": {"id": 7, "subject": "Write the parser"}},
    )
    start = dict(
        created,
        hook_event_name="PreToolUse",
        tool_name="TaskUpdate",
        tool_input={"taskId": 7, "status": "in_progress"},
    )
    s = replay(event, tool, start)
    assert [(t.id, t.status) for t in s.todos] == [("7", "in_progress")]
    assert s.task == "Writing the parser"


def test_cwd_changed_and_stop_failure() -> None:
    """CwdChanged moves the session; StopFailure (API error) ends the turn: waiting for input.

    No real capture exists; the inputs are the documentation examples in synthetic/.
    """
    s = replay("synthetic/hook-CwdChanged-1.json")
    assert (s.cwd, s.status) == ("/Users/my-project/src", PublishedStatus.WAITING_FOR_INPUT)
    prompt = dict(load_fixture("hook-UserPromptSubmit-1.json"), session_id="abc123")
    s = replay(prompt, "synthetic/hook-StopFailure-1.json")
    assert (s.status, s.event) == (PublishedStatus.WAITING_FOR_INPUT, "StopFailure")


def test_clear_ends_one_session_and_resume_revives_it() -> None:
    """SessionEnd reason clear ends the session; a later SessionStart (resume) makes it live."""
    end = load_fixture("hook-SessionEnd-2.json")
    s = replay("hook-UserPromptSubmit-2.json", end)
    assert (s.status, s.end_reason) == (PublishedStatus.ENDED, "clear")
    resume = dict(load_fixture("hook-SessionStart-1.json"), session_id=end["session_id"])
    s = replay("hook-UserPromptSubmit-2.json", end, dict(resume, source="resume"))
    assert (s.status, s.end_reason) == (PublishedStatus.WAITING_FOR_INPUT, None)


def test_old_notification_without_type_from_a_real_1_0_session() -> None:
    """The 1.0.x idle notification (no notification_type, real payload) means waiting."""
    s = replay("hook-Notification-3.json")
    assert s.status is PublishedStatus.WAITING_FOR_INPUT


def test_the_transcript_branch_only_fills_in_without_a_cwd() -> None:
    """Outside a git repo git gives no branch; the transcript's "HEAD" must not flap it back."""
    s = replay("hook-SessionStart-1.json")  # has a cwd: git is asked about the branch
    assert apply_context(s, branch="HEAD").branch is None
    old = replay("hook-Stop-3.json")  # 1.0.48: no cwd, nothing to ask git
    filled = apply_context(old, cwd="/Users/x/app", branch="main")
    assert (filled.cwd, filled.branch) == ("/Users/x/app", "main")
