"""What a session is doing besides its status: todo list, tasks, subagents, the tool's detail.

Pure reducers over a :class:`~sessionbeat.publisher.session.LocalSession` and one hook input,
called by :func:`sessionbeat.publisher.reducers.apply_hook`; no I/O, no clock.

Formats: hook input per https://code.claude.com/docs/en/hooks (docs/claude-code-formats.md
sections 1, 3.4, 3.5): todo tools ``TodoWrite`` (full lists) and ``TaskCreate``/``TaskUpdate``
(incremental ids), one reducer each, dispatched by tool name (:data:`TODO_TOOLS`); the
``TaskCreated``/``TaskCompleted`` events; subagents paired by
``agent_id`` from ``SubagentStart``/``SubagentStop``, or the ``Task``/``Agent`` tool calls of
versions without those events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.publisher.limits import NAME_MAX, Name, Text, cut

if TYPE_CHECKING:
    from sessionbeat.publisher.session import LocalSession

SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
"""Names of the subagent tool: ``Task`` up to ~2.1.6x, ``Agent`` afterwards."""

DETAIL_KEYS = ("command", "url", "file_path", "notebook_path", "pattern", "query", "path")
"""Tool-input keys, in order of preference, shown (opt-in) for a tool awaiting approval."""


class TodoItem(BaseModel):
    """One item of the session's todo list (``TodoWrite`` entry or ``TaskCreate`` task).

    Texts are cut to :data:`~sessionbeat.publisher.limits.TEXT_MAX` characters, id and status
    to :data:`~sessionbeat.publisher.limits.NAME_MAX`, when set as well as when built.
    """

    model_config = ConfigDict(validate_assignment=True)

    id: Name | None = None
    content: Text
    status: Name = "pending"
    active_form: Text | None = None


def nonempty(value: Any) -> str | None:
    """Return ``value`` if it is a non-empty string, else None (lenient hook fields)."""
    return value if isinstance(value, str) and value else None


def _task_id(value: Any) -> str | None:
    """Return a task id as a string (``TaskCreate``/``TaskUpdate`` ids may be numbers).

    Cut like the ids a :class:`TodoItem` keeps, so an over-long id still finds its item.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    found = nonempty(value)
    return None if found is None else cut(found, NAME_MAX)


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


TodoReducer = Callable[[list[TodoItem], dict[str, Any], dict[str, Any]], list[TodoItem]]
"""A todo tool's reducer: ``(todos, tool_input, tool_response) -> todos``.

``tool_input`` and ``tool_response`` are the hook's JSON objects (``{}`` when absent or not an
object). Returns the new list; it may be ``todos`` itself, with items changed in place.
"""


def todo_write(
    todos: list[TodoItem], tool_input: dict[str, Any], tool_response: dict[str, Any]
) -> list[TodoItem]:
    """Return the list a ``TodoWrite`` call sets: it replaces the whole list.

    Its result's ``newTodos`` (PostToolUse), else its input's ``todos``; ``todos`` unchanged when
    neither is a list. Items need a non-empty ``content``; ``status`` defaults to pending.
    """
    found = _todos_from_todowrite(tool_response.get("newTodos"))
    if found is None:
        found = _todos_from_todowrite(tool_input.get("todos"))
    return todos if found is None else found


def task_create(
    todos: list[TodoItem], tool_input: dict[str, Any], tool_response: dict[str, Any]
) -> list[TodoItem]:
    """Return ``todos`` with the task a ``TaskCreate`` result names added once.

    The id comes from the result's ``task.id`` (a number or a string), the subject from
    ``task.subject`` else the input's ``subject``. A task already known by its id (the
    ``TaskCreated`` event came first) only gains the input's ``activeForm``; no subject, no task.
    """
    task = tool_response.get("task")
    task = task if isinstance(task, dict) else {}
    task_id = _task_id(task.get("id"))
    subject = nonempty(task.get("subject")) or nonempty(tool_input.get("subject"))
    active_form = nonempty(tool_input.get("activeForm"))
    known = next((t for t in todos if task_id and t.id == task_id), None)
    if known is not None:
        known.active_form = known.active_form or active_form
    elif subject:
        todos.append(TodoItem(id=task_id, content=subject, active_form=active_form))
    return todos


def task_update(
    todos: list[TodoItem], tool_input: dict[str, Any], tool_response: dict[str, Any]
) -> list[TodoItem]:
    """Return ``todos`` with the task a ``TaskUpdate`` input names (``taskId``) changed.

    ``status: "deleted"`` removes it; else a given ``status``, ``subject`` and ``activeForm``
    replace the item's. An unknown id changes nothing.
    """
    task_id = _task_id(tool_input.get("taskId"))
    status = nonempty(tool_input.get("status"))
    for i, item in enumerate(todos):
        if item.id is not None and item.id == task_id:
            if status == "deleted":
                del todos[i]
                break
            if status:
                item.status = status
            item.content = nonempty(tool_input.get("subject")) or item.content
            item.active_form = nonempty(tool_input.get("activeForm")) or item.active_form
            break
    return todos


_PRE_AND_POST = frozenset({"PreToolUse", "PostToolUse"})

TODO_TOOLS: dict[str, tuple[frozenset[str], TodoReducer]] = {
    "TodoWrite": (_PRE_AND_POST, todo_write),
    "TaskCreate": (frozenset({"PostToolUse"}), task_create),
    "TaskUpdate": (_PRE_AND_POST, task_update),
}
"""Per todo tool name: the hook events whose input it reads, and its reducer.

``TaskCreate`` needs its result (the id), so only its PostToolUse counts.
"""


def apply_todo_tools(s: LocalSession, hook: HookInput) -> None:
    """Update ``s.todos`` in place from a todo tool's hook (TodoWrite, TaskCreate, TaskUpdate).

    Dispatches on the tool name through :data:`TODO_TOOLS`; another tool, or an event its
    protocol does not read, changes nothing.
    """
    protocol = TODO_TOOLS.get(hook.tool_name or "")
    if protocol is None or hook.hook_event_name not in protocol[0]:
        return
    tool_input = hook.tool_input if isinstance(hook.tool_input, dict) else {}
    tool_response = hook.tool_response if isinstance(hook.tool_response, dict) else {}
    s.todos = protocol[1](s.todos, tool_input, tool_response)


def apply_task_events(s: LocalSession, hook: HookInput) -> None:
    """Update ``s.todos`` in place from the ``TaskCreated``/``TaskCompleted`` hook events."""
    task_id = _task_id(hook.task_id)
    if not task_id:
        return
    known = next((t for t in s.todos if t.id == task_id), None)
    if hook.hook_event_name == "TaskCreated" and known is None and hook.task_subject:
        s.todos = [*s.todos, TodoItem(id=task_id, content=hook.task_subject)]
    elif hook.hook_event_name == "TaskCompleted" and known is not None:
        known.status = "completed"


def apply_subagents(s: LocalSession, hook: HookInput) -> None:
    """Update the running subagents of ``s`` in place from one hook.

    ``SubagentStart``/``SubagentStop`` pair by ``agent_id`` (``agent_type ""`` is an internal
    fork, not counted); without those events (old versions) open ``Task``/``Agent`` tool calls
    count, and Stop or SessionEnd closes them.
    """
    event = hook.hook_event_name
    # Ids are kept cut to NAME_MAX (limits.IdList): compare them cut the same way.
    agent_id = cut(hook.agent_id, NAME_MAX) if hook.agent_id else None
    if event == "SubagentStart":
        # agent_type "" marks Claude Code's internal forks: not a subagent the user started.
        if agent_id and hook.agent_type != "":
            s.saw_subagent_start = True
            if agent_id not in s.running_agents:
                s.running_agents = [*s.running_agents, agent_id]
    elif event == "SubagentStop":
        if agent_id and agent_id in s.running_agents:
            s.running_agents.remove(agent_id)
    elif hook.tool_name in SUBAGENT_TOOLS and hook.agent_id is None:
        tin = hook.tool_input if isinstance(hook.tool_input, dict) else {}
        marker = cut(hook.tool_use_id or "?", NAME_MAX)
        if event == "PreToolUse" and not tin.get("run_in_background"):
            s.running_task_tools = [*s.running_task_tools, marker]
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
