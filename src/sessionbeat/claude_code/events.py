"""The catalog of Claude Code's hook events: every name once, and the sets sessionbeat uses.

Source: the event list of https://code.claude.com/docs/en/hooks, as recorded in
docs/claude-code-formats.md section 1.1 (docs v2.1.239). :class:`HookEvent` spells each name
once; every set below is built from its members or from another set, never from a string:

* :data:`DOCUMENTED_EVENTS`: every event Claude Code documents (the ``event`` label values of
  ``sessionbeat_hook_events_total``; any other name is counted as ``other``).
* :data:`STATUS_EVENTS`: the events that can set a session's status, the union of the
  status table's groups (:data:`WORKING_EVENTS`, :data:`APPROVAL_EVENTS`,
  :data:`WAITING_EVENTS`, :data:`ENDED_EVENTS` and :data:`INPUT_DEPENDENT_EVENTS`);
  :func:`sessionbeat.publisher.status.status_for_event` maps them, docs/architecture.md
  ("Status: the newest observation decides") has the table.
* :data:`ACTIVITY_EVENTS`: hooked for what they carry (tasks, working directory), no status.
* :data:`INSTALLED_EVENTS`: what ``sessionbeat hooks install`` registers, in documented order:
  the status events and the activity events.
* :data:`SYNC_EVENTS`: the installed events whose hook runs synchronously.

Standard library only (no pydantic), so even the hook's fast path could import it.
"""

from __future__ import annotations

from enum import StrEnum


class HookEvent(StrEnum):
    """A Claude Code hook event name (``hook_event_name`` of the hook input), documented order.

    A member equals its name as a plain ``str`` (``HookEvent.STOP == "Stop"``), so the sets
    below answer ``name in SET`` for names read from JSON.
    """

    SESSION_START = "SessionStart"
    SETUP = "Setup"
    INSTRUCTIONS_LOADED = "InstructionsLoaded"
    USER_PROMPT_SUBMIT = "UserPromptSubmit"
    USER_PROMPT_EXPANSION = "UserPromptExpansion"
    MESSAGE_DISPLAY = "MessageDisplay"
    PRE_TOOL_USE = "PreToolUse"
    PERMISSION_REQUEST = "PermissionRequest"
    PERMISSION_DENIED = "PermissionDenied"
    POST_TOOL_USE = "PostToolUse"
    POST_TOOL_USE_FAILURE = "PostToolUseFailure"
    POST_TOOL_BATCH = "PostToolBatch"
    NOTIFICATION = "Notification"
    SUBAGENT_START = "SubagentStart"
    SUBAGENT_STOP = "SubagentStop"
    TASK_CREATED = "TaskCreated"
    TASK_COMPLETED = "TaskCompleted"
    STOP = "Stop"
    STOP_FAILURE = "StopFailure"
    TEAMMATE_IDLE = "TeammateIdle"
    CONFIG_CHANGE = "ConfigChange"
    CWD_CHANGED = "CwdChanged"
    DIRECTORY_ADDED = "DirectoryAdded"
    FILE_CHANGED = "FileChanged"
    WORKTREE_CREATE = "WorktreeCreate"
    WORKTREE_REMOVE = "WorktreeRemove"
    PRE_COMPACT = "PreCompact"
    POST_COMPACT = "PostCompact"
    ELICITATION = "Elicitation"
    ELICITATION_RESULT = "ElicitationResult"
    SESSION_END = "SessionEnd"


DOCUMENTED_EVENTS: frozenset[HookEvent] = frozenset(HookEvent)
"""Every event Claude Code documents (https://code.claude.com/docs/en/hooks, v2.1.239).

Names outside it (a newer Claude Code, a made-up payload) are accepted everywhere and only
refresh activity; the exporter counts them as ``other`` so a host cannot grow its label set.
"""

WORKING_EVENTS: frozenset[HookEvent] = frozenset(
    {
        HookEvent.USER_PROMPT_SUBMIT,
        HookEvent.PRE_TOOL_USE,
        HookEvent.POST_TOOL_USE,
        HookEvent.POST_TOOL_USE_FAILURE,
        HookEvent.SUBAGENT_START,
        HookEvent.PRE_COMPACT,
    }
)
"""Events that mean Claude is working."""

APPROVAL_EVENTS: frozenset[HookEvent] = frozenset({HookEvent.PERMISSION_REQUEST})
"""Events that mean a permission prompt is about to show (needs approval)."""

WAITING_EVENTS: frozenset[HookEvent] = frozenset(
    {HookEvent.STOP, HookEvent.STOP_FAILURE, HookEvent.SESSION_START}
)
"""Events that mean the prompt waits for the user (``SessionStart`` unless ``source`` is
``compact``)."""

ENDED_EVENTS: frozenset[HookEvent] = frozenset({HookEvent.SESSION_END})
"""Events that mean the session ended."""

INPUT_DEPENDENT_EVENTS: frozenset[HookEvent] = frozenset(
    {HookEvent.NOTIFICATION, HookEvent.POST_COMPACT, HookEvent.SUBAGENT_STOP}
)
"""Events whose status depends on a field of their input: ``Notification`` on
``notification_type`` (or its message), ``PostCompact`` on ``trigger``, ``SubagentStop`` on
``agent_type`` (Claude Code's internal forks send ``""``, stop after the turn has ended, and
/compact sends one)."""

STATUS_EVENTS: frozenset[HookEvent] = (
    WORKING_EVENTS | APPROVAL_EVENTS | WAITING_EVENTS | ENDED_EVENTS | INPUT_DEPENDENT_EVENTS
)
"""Events that can set a status; every other event is accepted and only refreshes activity.

Not among them, measured with Claude Code 2.1.328 (docs/architecture.md): ``PostToolBatch``
(it follows the batch's last PostToolUse within ~10 ms, which already says working) and
``MessageDisplay`` (once per displayed line of a streamed answer, several per second, each a
hook process of ~13 ms: a cost for no status).
"""

ACTIVITY_EVENTS: frozenset[HookEvent] = frozenset(
    {HookEvent.TASK_CREATED, HookEvent.TASK_COMPLETED, HookEvent.CWD_CHANGED}
)
"""Events hooked for what they carry, not for a status: the task list (``TaskCreated``,
``TaskCompleted``) and the working directory (``CwdChanged``)."""

INSTALLED_EVENTS: tuple[HookEvent, ...] = tuple(
    event for event in HookEvent if event in STATUS_EVENTS | ACTIVITY_EVENTS
)
"""Events ``sessionbeat hooks install`` registers, in documented order (``settings.json``'s
order): :data:`STATUS_EVENTS` and :data:`ACTIVITY_EVENTS`."""

SYNC_EVENTS: frozenset[HookEvent] = ENDED_EVENTS
"""Installed events whose hook runs synchronously: the one that ends the session, because
Claude Code kills still-running async hooks when a ``-p`` run ends (the SessionEnd budget,
1.5 s, is far above the hook's ~10 ms)."""
