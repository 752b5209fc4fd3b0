"""The todo list per task-tool protocol: TodoWrite, TaskCreate, TaskUpdate (publisher/activity.py).

Shapes follow docs/claude-code-formats.md section 3.4; the real TodoWrite capture and the
session-level replays are in test_session.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.publisher.activity import (
    TodoItem,
    apply_todo_tools,
    task_create,
    task_update,
    todo_write,
)
from sessionbeat.publisher.session import LocalSession

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


def items(*rows: tuple[str | None, str, str]) -> list[TodoItem]:
    return [TodoItem(id=i, content=c, status=s) for i, c, s in rows]


def rows(todos: list[TodoItem]) -> list[tuple[str | None, str, str]]:
    return [(t.id, t.content, t.status) for t in todos]


PARSER = (None, "Write the parser", "pending")


@pytest.mark.parametrize(
    ("before", "tool_input", "tool_response", "after"),
    [
        pytest.param(
            [],
            {"todos": [{"content": "Write the parser"}]},
            {},
            [PARSER],
            id="input-list-status-defaults-to-pending",
        ),
        pytest.param(
            [],
            {"todos": [{"content": "old"}]},
            {"newTodos": [{"content": "Write the parser", "status": "pending"}]},
            [PARSER],
            id="result-list-wins-over-input",
        ),
        pytest.param(
            [("1", "a", "pending"), ("2", "b", "pending")],
            {"todos": [{"content": "b", "status": "completed"}]},
            {},
            [(None, "b", "completed")],
            id="replaces-the-whole-list",
        ),
        pytest.param(
            [("1", "a", "pending")],
            {"todos": "not a list"},
            {},
            [("1", "a", "pending")],
            id="no-list-keeps-the-old-one",
        ),
        pytest.param(
            [("1", "a", "pending")],
            {"todos": [{"content": ""}, {"status": "pending"}, "text"]},
            {},
            [],
            id="items-without-content-dropped",
        ),
    ],
)
def test_todo_write_replaces_the_list(
    before: list[tuple[str | None, str, str]],
    tool_input: dict[str, Any],
    tool_response: dict[str, Any],
    after: list[tuple[str | None, str, str]],
) -> None:
    """TodoWrite sends the full list each time: the page shows exactly that list."""
    assert rows(todo_write(items(*before), tool_input, tool_response)) == after


@pytest.mark.parametrize(
    ("before", "tool_input", "tool_response", "after"),
    [
        pytest.param(
            [],
            {"subject": "Write the parser"},
            {"task": {"id": "1", "subject": "Write the parser"}},
            [("1", "Write the parser", "pending")],
            id="adds-the-task-the-result-names",
        ),
        pytest.param(
            [],
            {"subject": "Write the parser"},
            {"task": {"id": 7}},
            [("7", "Write the parser", "pending")],
            id="numeric-id-subject-from-input",
        ),
        pytest.param(
            [("7", "Write the parser", "pending")],
            {"subject": "Write the parser"},
            {"task": {"id": 7, "subject": "Write the parser"}},
            [("7", "Write the parser", "pending")],
            id="known-id-not-doubled",
        ),
        pytest.param(
            [],
            {},
            {"task": {"id": "1"}},
            [],
            id="no-subject-no-task",
        ),
        pytest.param(
            [],
            {"subject": "Write the parser"},
            {},
            [PARSER],
            id="no-result-task-without-id",
        ),
    ],
)
def test_task_create_adds_one_task(
    before: list[tuple[str | None, str, str]],
    tool_input: dict[str, Any],
    tool_response: dict[str, Any],
    after: list[tuple[str | None, str, str]],
) -> None:
    """TaskCreate adds a task once, under the id its result names (numbers read as text)."""
    assert rows(task_create(items(*before), tool_input, tool_response)) == after


def test_task_create_gives_a_known_task_its_active_form() -> None:
    """A task first seen from the TaskCreated event gets the tool's activeForm (the page's task)."""
    todos = items(("7", "Write the parser", "pending"))
    task_create(todos, {"activeForm": "Writing the parser"}, {"task": {"id": 7}})
    assert todos[0].active_form == "Writing the parser"


@pytest.mark.parametrize(
    ("tool_input", "after"),
    [
        pytest.param(
            {"taskId": "1", "status": "in_progress"},
            [("1", "a", "in_progress"), ("2", "b", "pending")],
            id="status",
        ),
        pytest.param(
            {"taskId": 2, "subject": "b2"},
            [("1", "a", "pending"), ("2", "b2", "pending")],
            id="numeric-id-subject",
        ),
        pytest.param({"taskId": "1", "status": "deleted"}, [("2", "b", "pending")], id="deleted"),
        pytest.param(
            {"taskId": "9", "status": "completed"},
            [("1", "a", "pending"), ("2", "b", "pending")],
            id="unknown-id-changes-nothing",
        ),
        pytest.param(
            {"status": "completed"},
            [("1", "a", "pending"), ("2", "b", "pending")],
            id="no-id-changes-nothing",
        ),
    ],
)
def test_task_update_changes_one_task_by_id(
    tool_input: dict[str, Any], after: list[tuple[str | None, str, str]]
) -> None:
    """TaskUpdate changes or deletes the task with its id and leaves the others alone."""
    before = items(("1", "a", "pending"), ("2", "b", "pending"))
    assert rows(task_update(before, tool_input, {})) == after


def _session(todos: list[TodoItem]) -> LocalSession:
    return LocalSession(
        session_id="s1",
        host="kai-server",
        started_at=T0,
        last_activity_at=T0,
        last_event_at=T0,
        todos=todos,
    )


@pytest.mark.parametrize(
    ("tool", "event", "changes"),
    [
        ("TodoWrite", "PreToolUse", True),
        ("TodoWrite", "PostToolUse", True),
        ("TodoWrite", "PermissionRequest", False),
        ("TaskCreate", "PreToolUse", False),  # no id before the result
        ("TaskCreate", "PostToolUse", True),
        ("TaskUpdate", "PreToolUse", True),
        ("TaskUpdate", "PostToolUse", True),
        ("TaskUpdate", "PostToolUseFailure", False),
        ("Bash", "PostToolUse", False),
    ],
)
def test_each_tool_is_read_at_its_events_only(tool: str, event: str, changes: bool) -> None:
    """A todo tool changes the list only at the hook events its protocol reads; others never."""
    hook = HookInput(
        session_id="s1",
        hook_event_name=event,
        tool_name=tool,
        tool_input={"todos": [{"content": "new"}], "taskId": "1", "status": "completed"},
        tool_response={"task": {"id": "2", "subject": "new"}},
    )
    s = _session(items(("1", "a", "pending")))
    apply_todo_tools(s, hook)
    assert (rows(s.todos) != [("1", "a", "pending")]) is changes
