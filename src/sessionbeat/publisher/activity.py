"""What a session is doing besides its status: todo list, tasks, subagents, the tool's detail.

Pure reducers over a :class:`~sessionbeat.publisher.session.LocalSession` and one hook input,
called by :func:`sessionbeat.publisher.session.apply_hook`; no I/O, no clock.

Formats: hook input per https://code.claude.com/docs/en/hooks (docs/claude-code-formats.md
sections 1, 3.4, 3.5): todo tools ``TodoWrite`` (full lists) and ``TaskCreate``/``TaskUpdate``
(incremental ids), the ``TaskCreated``/``TaskCompleted`` events; subagents paired by
``agent_id`` from ``SubagentStart``/``SubagentStop``, or the ``Task``/``Agent`` tool calls of
versions without those events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from sessionbeat.claude_code.hook_input import HookInput

if TYPE_CHECKING:
    from sessionbeat.publisher.session import LocalSession

SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
"""Names of the subagent tool: ``Task`` up to ~2.1.6x, ``Agent`` afterwards."""

DETAIL_KEYS = ("command", "url", "file_path", "notebook_path", "pattern", "query", "path")
"""Tool-input keys, in order of preference, shown (opt-in) for a tool awaiting approval."""


class TodoItem(BaseModel):
    """One item of the session's todo list (``TodoWrite`` entry or ``TaskCreate`` task)."""

    id: str | None = None
    content: str
    status: str = "pending"
    active_form: str | None = None


def nonempty(value: Any) -> str | None:
    """Return ``value`` if it is a non-empty string, else None (lenient hook fields)."""
    return value if isinstance(value, str) and value else None


def _task_id(value: Any) -> str | None:
    """Return a task id as a string (``TaskCreate``/``TaskUpdate`` ids may be numbers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return nonempty(value)


def tool_detail(tool_input: Any, max_chars: int) -> str | None:
    """Return a short, single-line description of a tool input, cut to ``max_chars``.

    Takes the hook's ``tool_input`` (any JSON); uses the first of :data:`DETAIL_KEYS` present,
    or the first question of ``AskUserQuestion``. Returns None when nothing fits.
    """
    found: str | None = None
    if isinstance(tool_input, dict):
        for key in DETAIL_KEYS:
            found = nonempty(tool_input.get(key))
            if found:
                break
        if found is None:
            questions = tool_input.get("questions")
            if isinstance(questions, list) and questions and isinstance(questions[0], dict):
                found = nonempty(questions[0].get("question"))
    if found is None:
        return None
    line = " ".join(found.split())
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


def _todos_from_todowrite(value: Any) -> list[TodoItem] | None:
    if not isinstance(value, list):
        return None
    items = []
    for raw in value:
        if isinstance(raw, dict) and nonempty(raw.get("content")):
            items.append(
                TodoItem(
                    id=nonempty(raw.get("id")),
                    content=raw["content"],
                    status=nonempty(raw.get("status")) or "pending",
                    active_form=nonempty(raw.get("activeForm")),
                )
            )
    return items


def apply_todo_tools(s: LocalSession, hook: HookInput) -> None:
    """Update ``s.todos`` in place from a todo tool's hook (TodoWrite, TaskCreate, TaskUpdate).

    ``TodoWrite`` replaces the list (its result's ``newTodos``, else its input); ``TaskCreate``
    adds a task once its result names the id; ``TaskUpdate`` changes or deletes one by id.
    """
    name = hook.tool_name
    tin = hook.tool_input if isinstance(hook.tool_input, dict) else {}
    tres = hook.tool_response if isinstance(hook.tool_response, dict) else {}
    event = hook.hook_event_name
    if name == "TodoWrite" and event in ("PreToolUse", "PostToolUse"):
        todos = _todos_from_todowrite(tres.get("newTodos"))
        if todos is None:
            todos = _todos_from_todowrite(tin.get("todos"))
        if todos is not None:
            s.todos = todos
    elif name == "TaskCreate" and event == "PostToolUse":
        task = tres.get("task") if isinstance(tres.get("task"), dict) else {}
        task_id = _task_id(task.get("id")) if task else None
        subject = nonempty(task.get("subject")) if task else None
        subject = subject or nonempty(tin.get("subject"))
        active_form = nonempty(tin.get("activeForm"))
        known = next((t for t in s.todos if task_id and t.id == task_id), None)
        if known is not None:  # the TaskCreated event came first
            known.active_form = known.active_form or active_form
        elif subject:
            s.todos.append(TodoItem(id=task_id, content=subject, active_form=active_form))
    elif name == "TaskUpdate" and event in ("PreToolUse", "PostToolUse"):
        task_id = _task_id(tin.get("taskId"))
        status = nonempty(tin.get("status"))
        for i, item in enumerate(s.todos):
            if item.id is not None and item.id == task_id:
                if status == "deleted":
                    del s.todos[i]
                    break
                if status:
                    item.status = status
                item.content = nonempty(tin.get("subject")) or item.content
                item.active_form = nonempty(tin.get("activeForm")) or item.active_form
                break


def apply_task_events(s: LocalSession, hook: HookInput) -> None:
    """Update ``s.todos`` in place from the ``TaskCreated``/``TaskCompleted`` hook events."""
    task_id = hook.task_id
    if not task_id:
        return
    known = next((t for t in s.todos if t.id == task_id), None)
    if hook.hook_event_name == "TaskCreated" and known is None and hook.task_subject:
        s.todos.append(TodoItem(id=task_id, content=hook.task_subject))
    elif hook.hook_event_name == "TaskCompleted" and known is not None:
        known.status = "completed"


def apply_subagents(s: LocalSession, hook: HookInput) -> None:
    """Update the running subagents of ``s`` in place from one hook.

    ``SubagentStart``/``SubagentStop`` pair by ``agent_id`` (``agent_type ""`` is an internal
    fork, not counted); without those events (old versions) open ``Task``/``Agent`` tool calls
    count, and Stop or SessionEnd closes them.
    """
    event = hook.hook_event_name
    if event == "SubagentStart":
        # agent_type "" marks Claude Code's internal forks: not a subagent the user started.
        if hook.agent_id and hook.agent_type != "":
            s.saw_subagent_start = True
            if hook.agent_id not in s.running_agents:
                s.running_agents.append(hook.agent_id)
    elif event == "SubagentStop":
        if hook.agent_id and hook.agent_id in s.running_agents:
            s.running_agents.remove(hook.agent_id)
    elif hook.tool_name in SUBAGENT_TOOLS and hook.agent_id is None:
        tin = hook.tool_input if isinstance(hook.tool_input, dict) else {}
        marker = hook.tool_use_id or "?"
        if event == "PreToolUse" and not tin.get("run_in_background"):
            s.running_task_tools.append(marker)
        elif event in ("PostToolUse", "PostToolUseFailure") and s.running_task_tools:
            if marker in s.running_task_tools:
                s.running_task_tools.remove(marker)
            elif "?" in s.running_task_tools:
                s.running_task_tools.remove("?")
    if event in ("Stop", "StopFailure"):
        s.running_task_tools.clear()  # foreground subagent calls never outlive the turn
    if event == "SessionEnd":
        s.running_task_tools.clear()
        s.running_agents.clear()
