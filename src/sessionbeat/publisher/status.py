"""Status observations and the one rule that merges them: the newest observation decides.

A session's status is observed two ways, each carrying the time it describes:

* a **hook event** (https://code.claude.com/docs/en/hooks): the time the hook process received
  it on this host (``HostEvent.time_ns``). :func:`status_for_event` says what an event implies;
  most events imply nothing and only refresh activity; the events that can set a status are
  :data:`sessionbeat.claude_code.events.STATUS_EVENTS`.
* a **registry reading** of Claude Code's ``<config dir>/sessions/<pid>.json``
  (docs/claude-code-formats.md section 7): its ``statusUpdatedAt``, the moment Claude Code
  changed the word. :func:`status_for_registry` maps the word.

:func:`decide` takes the newest hook observation and the newest registry observation and returns
the one that decides (the newer; on a tie the hook's, which carries the detail). An older
observation never overrides a newer one, whatever order they arrive in. The registry reports
what no hook does (approval granted at the terminal, Esc, "No" at the prompt); a stale registry
word loses to a newer hook (a ``-p`` run's registry says ``busy`` until it exits, so its Stop
hook, being newer, decides). docs/architecture.md ("Status: the newest observation decides")
has the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sessionbeat.claude_code.events import (
    APPROVAL_EVENTS,
    ENDED_EVENTS,
    WAITING_EVENTS,
    WORKING_EVENTS,
    HookEvent,
)
from sessionbeat.models import PublishedStatus, StatusSource

_REGISTRY = {
    "busy": PublishedStatus.WORKING,
    "waiting": PublishedStatus.NEEDS_APPROVAL,
    "idle": PublishedStatus.WAITING_FOR_INPUT,
}


@dataclass(frozen=True, slots=True)
class Observation:
    """One observation of a session's status: what it said, when, and from which source.

    ``at`` is an aware UTC datetime: for a hook the time the hook received the event, for the
    registry its ``statusUpdatedAt``.
    """

    status: PublishedStatus
    at: datetime
    source: StatusSource


def decide(hook: Observation | None, registry: Observation | None) -> Observation | None:
    """Return the observation that decides the status: the newer one; a tie goes to the hook.

    Either may be None (no such observation yet); both None gives None.
    """
    if registry is None:
        return hook
    if hook is None or registry.at > hook.at:
        return registry
    return hook


def status_for_event(
    event: str | None,
    notification_type: str | None = None,
    message: str | None = None,
    *,
    source: str | None = None,
    trigger: str | None = None,
    agent_type: str | None = None,
) -> PublishedStatus | None:
    """Return the status a hook event implies, or None if it only refreshes activity.

    ``Notification`` depends on ``notification_type`` (``permission_prompt`` -> needs_approval,
    ``idle_prompt`` -> waiting_for_input). Claude Code before 2.0.37 sent no type; then the
    message text decides ("... needs your permission ..." / "... waiting for your input").
    ``SessionStart`` with ``source`` ``compact`` implies nothing (compaction goes on: a manual
    one ends with ``PostCompact``, an automatic one inside a turn that continues).
    ``PostCompact`` with ``trigger`` ``manual`` (``/compact`` typed at the prompt) gives
    waiting_for_input, ``auto`` working. ``SubagentStop`` gives working (the main agent goes on)
    except with ``agent_type ""``: an internal fork, which implies nothing.
    """
    if event is None:
        return None
    if event == HookEvent.SUBAGENT_STOP:
        return None if agent_type == "" else PublishedStatus.WORKING
    if event in WORKING_EVENTS:
        return PublishedStatus.WORKING
    if event in APPROVAL_EVENTS:
        return PublishedStatus.NEEDS_APPROVAL
    if event == HookEvent.SESSION_START and source == "compact":
        return None
    if event in WAITING_EVENTS:
        return PublishedStatus.WAITING_FOR_INPUT
    if event in ENDED_EVENTS:
        return PublishedStatus.ENDED
    if event == HookEvent.POST_COMPACT:
        if trigger == "manual":
            return PublishedStatus.WAITING_FOR_INPUT
        return PublishedStatus.WORKING if trigger == "auto" else None
    if event == HookEvent.NOTIFICATION:
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
