"""Hook event -> published status (DESIGN.md "Status model"), and registry word -> status.

Sources: the status table in DESIGN.md; hook events and ``notification_type`` values from
https://code.claude.com/docs/en/hooks; the registry's ``status`` words (``busy``, ``waiting``,
``idle``) from docs/claude-code-formats.md section 7.
"""

from __future__ import annotations

from sessionbeat.models import PublishedStatus

WORKING_EVENTS = frozenset(
    {
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "SubagentStart",
        "SubagentStop",
        "PreCompact",
    }
)
APPROVAL_EVENTS = frozenset({"PermissionRequest"})
WAITING_EVENTS = frozenset({"Stop", "StopFailure", "SessionStart"})
ENDED_EVENTS = frozenset({"SessionEnd"})

KNOWN_EVENTS = WORKING_EVENTS | APPROVAL_EVENTS | WAITING_EVENTS | ENDED_EVENTS | {"Notification"}
"""Events that set a status; every other event is accepted and only refreshes activity."""

_REGISTRY = {
    "busy": PublishedStatus.WORKING,
    "waiting": PublishedStatus.NEEDS_APPROVAL,
    "idle": PublishedStatus.WAITING_FOR_INPUT,
}


def status_for_event(
    event: str | None, notification_type: str | None = None, message: str | None = None
) -> PublishedStatus | None:
    """Return the status a hook event implies, or None if it only refreshes activity.

    ``Notification`` depends on ``notification_type`` (``permission_prompt`` -> needs_approval,
    ``idle_prompt`` -> waiting_for_input). Claude Code before 2.0.37 sent no type; then the
    message text decides ("... needs your permission ..." / "... waiting for your input").
    """
    if event is None:
        return None
    if event in WORKING_EVENTS:
        return PublishedStatus.WORKING
    if event in APPROVAL_EVENTS:
        return PublishedStatus.NEEDS_APPROVAL
    if event in WAITING_EVENTS:
        return PublishedStatus.WAITING_FOR_INPUT
    if event in ENDED_EVENTS:
        return PublishedStatus.ENDED
    if event == "Notification":
        if notification_type == "permission_prompt":
            return PublishedStatus.NEEDS_APPROVAL
        if notification_type == "idle_prompt":
            return PublishedStatus.WAITING_FOR_INPUT
        if notification_type is None and message:
            text = message.lower()
            if "permission" in text:
                return PublishedStatus.NEEDS_APPROVAL
            if "waiting for your input" in text:
                return PublishedStatus.WAITING_FOR_INPUT
    return None


def status_for_registry(word: str | None) -> PublishedStatus | None:
    """Map Claude Code's registry ``status`` word to a published status.

    ``busy`` -> working, ``waiting`` -> needs_approval, ``idle`` -> waiting_for_input; any other
    word (e.g. ``shell``) -> ``unknown`` (never guessed); a missing word -> None (no authority).
    """
    if word is None:
        return None
    return _REGISTRY.get(word, PublishedStatus.UNKNOWN)
