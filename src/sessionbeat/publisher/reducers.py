"""The pure reducers of a :class:`~sessionbeat.publisher.session.LocalSession`: one input in.

Each takes the previous session and one input and returns an updated copy: a hook event
(:func:`apply_hook`), Claude Code's registry reading (:func:`apply_registry`), a context reading
(:func:`apply_context`) or a process death (:func:`mark_process_exit`). Nothing here does I/O
or reads a clock: times are arguments.

Formats: hook input per https://code.claude.com/docs/en/hooks (docs/claude-code-formats.md
sections 1, 3.4, 3.5; the todo list and subagents in :mod:`sessionbeat.publisher.activity`);
Claude Code's registry per docs/claude-code-formats.md section 7 (:mod:`.registry`).
"""

from __future__ import annotations

from datetime import datetime

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.models import PublishedStatus
from sessionbeat.publisher.activity import (
    apply_subagents,
    apply_task_events,
    apply_todo_tools,
    nonempty,
    tool_detail,
)
from sessionbeat.publisher.session import LocalSession, RegistryReading, new_session
from sessionbeat.publisher.status import status_for_event, status_for_registry


def apply_hook(
    session: LocalSession | None,
    hook: HookInput,
    at: datetime,
    host: str,
    *,
    include_detail: bool = False,
    detail_max_chars: int = 120,
) -> LocalSession:
    """Return the session after one hook event received at ``at`` (the hook's own clock).

    Takes the previous state (None for a new session), the parsed hook input, the event time and
    this host's id. An event older than the last one applied (async hooks race) still updates
    counts and lists, but not the status, tool or event name. Never raises on odd input.
    """
    s = new_session(hook.session_id, host, at) if session is None else session.model_copy(deep=True)
    event = hook.hook_event_name
    in_order = at >= s.last_event_at
    apply_subagents(s, hook)
    apply_todo_tools(s, hook)
    apply_task_events(s, hook)
    s.transcript_path = hook.transcript_path or s.transcript_path
    if hook.cwd and in_order:
        s.cwd = hook.cwd
    if event == "CwdChanged" and hook.new_cwd and in_order:
        s.cwd = hook.new_cwd
    if hook.permission_mode and in_order:
        s.permission_mode = hook.permission_mode
    if event == "SessionStart" and hook.model:
        s.model = hook.model
    s.title = nonempty(hook.session_title) or s.title
    if at < s.started_at:
        s.started_at = at
    if not in_order:
        return s
    s.last_event_at = at
    s.last_activity_at = at
    s.event = event
    status = status_for_event(
        event,
        hook.notification_type,
        hook.message,
        source=hook.source,
        trigger=hook.trigger,
        agent_type=hook.agent_type,
    )
    if status is None:
        return s
    if status is PublishedStatus.ENDED:
        s.ended = True
        s.end_reason = hook.reason or "other"
        s.tool = None
        s.detail = None
        return s
    if s.ended:  # a resumed or still-running session: it is live again
        s.ended = False
        s.end_reason = None
    s.hook_status = status
    s.hook_status_at = at
    if event in ("PreToolUse", "PermissionRequest"):
        s.tool = hook.tool_name
        s.detail = (
            tool_detail(hook.tool_input, detail_max_chars)
            if include_detail and event == "PermissionRequest"
            else None
        )
    elif status is PublishedStatus.NEEDS_APPROVAL:
        pass  # Notification(permission_prompt) keeps the tool the PreToolUse named
    elif event in ("PostToolUse", "PostToolUseFailure") or status is not PublishedStatus.WORKING:
        s.tool = None
        s.detail = None
    if event == "UserPromptSubmit":
        s.tool = None
        s.detail = None
    return s


def apply_registry(
    session: LocalSession, reading: RegistryReading | None, seen_at: datetime
) -> LocalSession:
    """Return the session with a reading of Claude Code's registry, observed at ``seen_at``.

    ``reading`` None means the session has no registry entry (any more): the hooks decide
    alone. A reading's status counts from its ``status_at`` (``statusUpdatedAt``); a version
    that writes none is dated ``seen_at`` when its word changes. A reading dated before the one
    already applied is stale: its status is ignored. A word that says the turn is over
    (``idle``), newer than the last hook, also clears the tool and the open Task/Agent calls:
    Esc and "No" at the prompt fire no hook. The process id and start time are kept for the
    liveness check; name, version, entrypoint and tmux pane are taken as they are.
    """
    s = session.model_copy(deep=True)
    if reading is None:
        s.registry_status = None
        s.registry_status_at = None
        s.registry_waiting_for = None
        return s
    at = reading.status_at
    if at is None:
        unchanged = reading.status_word == s.registry_status
        at = s.registry_status_at if unchanged and s.registry_status_at else seen_at
    if s.registry_status_at is None or at >= s.registry_status_at:
        s.registry_status = reading.status_word
        s.registry_status_at = at if reading.status_word is not None else None
        s.registry_waiting_for = reading.waiting_for if reading.status_word == "waiting" else None
        over = status_for_registry(reading.status_word) is PublishedStatus.WAITING_FOR_INPUT
        if over and (s.hook_status_at is None or at > s.hook_status_at):
            s.tool = None
            s.detail = None
            s.running_task_tools.clear()
    s.pid = reading.pid
    s.pid_create_time = reading.create_time
    s.registry_name = reading.name or s.registry_name
    s.claude_version = reading.version or s.claude_version
    s.entrypoint = reading.entrypoint or s.entrypoint
    s.tmux = reading.tmux
    return s


def apply_context(
    session: LocalSession,
    *,
    context_tokens: int | None = None,
    context_window: int | None = None,
    window_exact: bool = False,
    model: str | None = None,
    cwd: str | None = None,
    branch: str | None = None,
    title: str | None = None,
) -> LocalSession:
    """Return the session with context readings (tokens) from the transcript or status line.

    An exact window (from the status line) is never replaced by an estimated one. ``cwd`` and
    ``branch`` only fill gaps (hooks of old versions carry no ``cwd``): the branch only while
    the session has no ``cwd`` to ask git about, so the transcript's ``gitBranch`` (``HEAD``
    outside a repository) never fights git's answer.
    """
    s = session.model_copy(deep=True)
    if context_tokens is not None:
        s.context_tokens = context_tokens
    if context_window is not None and (window_exact or not s.context_window_exact):
        s.context_window = context_window
        s.context_window_exact = s.context_window_exact or window_exact
    s.model = model or s.model
    if s.cwd is None:
        s.branch = s.branch or branch
    s.cwd = s.cwd or cwd
    s.title = title or s.title
    return s


def mark_process_exit(session: LocalSession, at: datetime) -> LocalSession:
    """Return the session ended with ``end_reason: process_exit`` (its process died at ``at``)."""
    s = session.model_copy(deep=True)
    s.ended = True
    s.end_reason = "process_exit"
    s.tool = None
    s.detail = None
    s.running_agents.clear()
    s.running_task_tools.clear()
    s.last_event_at = max(s.last_event_at, at)
    return s
