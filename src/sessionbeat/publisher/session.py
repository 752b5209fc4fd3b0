"""A host's local view of one Claude Code session: :class:`LocalSession` and its inputs' shapes.

The agent keeps one :class:`LocalSession` per session (persisted in ``<state_dir>/sessions``);
the pure reducers of :mod:`sessionbeat.publisher.reducers` update it from hook events, registry
readings (:class:`RegistryReading`), context readings and process deaths, and
:func:`sessionbeat.publisher.beat.to_beat` turns it into the wire :class:`SessionBeat`. Nothing
here does I/O or reads a clock: times are arguments. The status is decided by time
(:func:`sessionbeat.publisher.status.decide`): the newest of the last hook observation and the
last registry observation.

Formats: Claude Code's registry per docs/claude-code-formats.md section 7 (:mod:`.registry`);
the todo list per :mod:`sessionbeat.publisher.activity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from sessionbeat.models import PublishedStatus, StatusSource
from sessionbeat.publisher.activity import TodoItem
from sessionbeat.publisher.limits import (
    TODOS_MAX,
    Detail,
    IdList,
    Name,
    PathText,
    Text,
    keep_newest,
)
from sessionbeat.publisher.status import Observation, decide, status_for_registry


@dataclass(frozen=True, slots=True)
class RegistryReading:
    """One entry of Claude Code's live-session registry (``<config>/sessions/<pid>.json``).

    ``alive`` is the result of the pid + ``procStart`` guard; ``create_time`` the process start
    (epoch seconds, psutil) used for later liveness checks. ``status_at`` is the entry's
    ``statusUpdatedAt`` (None when the version writes none). ``waiting_for`` is ``waitingFor``
    (e.g. ``"permission prompt"``), ``version`` Claude Code's version, ``entrypoint`` how it
    was started (``cli``; ``sdk-cli`` for ``claude -p``), ``tmux`` the pane it runs in
    (``session:@window.%pane``), ``name`` the session name Claude Code derived or was given.
    """

    session_id: str
    pid: int
    status_word: str | None
    alive: bool
    create_time: float | None = None
    started_at: datetime | None = None
    cwd: str | None = None
    name: str | None = None
    status_at: datetime | None = None
    waiting_for: str | None = None
    version: str | None = None
    entrypoint: str | None = None
    tmux: str | None = None


class LocalSession(BaseModel):
    """Everything the host knows of one session; times are aware UTC datetimes.

    ``hook_status`` is the status the last status-setting hook event implied and
    ``hook_status_at`` when that hook ran; ``registry_status`` the raw word of Claude Code's
    registry and ``registry_status_at`` its ``statusUpdatedAt``. The newer of the two decides
    (:attr:`status`). ``running_agents`` holds the ids of
    subagents started and not yet stopped; ``running_task_tools`` the tool-use ids (or
    placeholders) of foreground ``Task``/``Agent`` calls, used only when the Claude Code version
    sends no ``SubagentStart``.

    Every text and list is bounded (:mod:`sessionbeat.publisher.limits`): a longer value is cut
    with a marker whenever it is set or loaded (``validate_assignment``), so what the agent
    holds, saves and publishes stays small whatever Claude Code sends.
    """

    model_config = ConfigDict(validate_assignment=True)

    session_id: str
    host: str
    seq: int = 0
    started_at: datetime
    last_activity_at: datetime
    last_event_at: datetime
    event: Name | None = None
    hook_status: PublishedStatus = PublishedStatus.WAITING_FOR_INPUT
    hook_status_at: datetime | None = None
    registry_status: Name | None = None
    registry_status_at: datetime | None = None
    registry_waiting_for: Text | None = None
    registry_name: Text | None = None
    claude_version: Name | None = None
    entrypoint: Name | None = None
    tmux: Name | None = None
    ended: bool = False
    end_reason: Name | None = None
    cwd: PathText | None = None
    repo: Name | None = None
    branch: Name | None = None
    transcript_path: PathText | None = None
    tool: Name | None = None
    detail: Detail | None = None
    title: Text | None = None
    model: Name | None = None
    context_tokens: int | None = None
    context_window: int | None = None
    context_window_exact: bool = False
    permission_mode: Name | None = None
    pid: int | None = None
    pid_create_time: float | None = None
    running_agents: IdList = Field(default_factory=list)
    saw_subagent_start: bool = False
    running_task_tools: IdList = Field(default_factory=list)
    todos: Annotated[list[TodoItem], keep_newest(TODOS_MAX)] = Field(default_factory=list)

    def verdict(self) -> Observation:
        """Return the status with its source and the time it describes, decided once.

        Ended: the SessionEnd or the process exit. Else the newest of the last status-setting
        hook and the last registry reading (:func:`~sessionbeat.publisher.status.decide`);
        with neither yet, the hook status a new session starts with, at its first event.
        """
        if self.ended:
            return Observation(PublishedStatus.ENDED, self.last_event_at, StatusSource.HOOK)
        hook = (
            None
            if self.hook_status_at is None
            else Observation(self.hook_status, self.hook_status_at, StatusSource.HOOK)
        )
        word = status_for_registry(self.registry_status)
        registry = (
            None
            if word is None or self.registry_status_at is None
            else Observation(word, self.registry_status_at, StatusSource.REGISTRY)
        )
        observed = decide(hook, registry)
        if observed is None:
            return Observation(self.hook_status, self.last_event_at, StatusSource.HOOK)
        return observed

    @property
    def status(self) -> PublishedStatus:
        """The status to publish (see :meth:`verdict`)."""
        return self.verdict().status

    @property
    def status_source(self) -> StatusSource:
        """``registry`` when Claude Code's registry reading decides the status, else ``hook``."""
        return self.verdict().source

    @property
    def status_at(self) -> datetime:
        """The time the deciding observation describes (the last hook event when ended)."""
        return self.verdict().at

    def waiting_for_in(self, status: PublishedStatus) -> str | None:
        """Return the registry's ``waitingFor`` if ``status`` is waiting for approval, else None."""
        if status is PublishedStatus.NEEDS_APPROVAL and self.registry_status == "waiting":
            return self.registry_waiting_for
        return None

    @property
    def waiting_for(self) -> str | None:
        """What the session waits for, per the registry (``waitingFor``), while it waits."""
        return self.waiting_for_in(self.status)

    @property
    def subagents(self) -> int:
        """Running subagents: paired SubagentStart/Stop, else open Task/Agent tool calls."""
        if self.saw_subagent_start:
            return len(self.running_agents)
        return len(self.running_task_tools)

    @property
    def task(self) -> str | None:
        """The in-progress todo (its active form if any), else the title, else the name.

        The title comes from a hook's ``session_title`` or the status line's
        ``session_name``; the name from Claude Code's registry (e.g. a derived ``work-4d``).
        """
        for item in reversed(self.todos):
            if item.status == "in_progress":
                return item.active_form or item.content
        return self.title or self.registry_name


def new_session(session_id: str, host: str, at: datetime) -> LocalSession:
    """Return a fresh session first seen at ``at`` (status waiting_for_input)."""
    return LocalSession(
        session_id=session_id, host=host, started_at=at, last_activity_at=at, last_event_at=at
    )
