"""The simulated fleet of ``bench_fleet.py``: hosts, sessions, their beats and when they are due.

Pure: no broker, no clock of its own (every function takes the simulated time ``t`` in seconds
and a wall-clock ``now`` for the timestamps in payloads), one seeded ``random.Random``.
Payloads are built with the project's own wire models (``HostStatus``, ``SessionBeat``) and
encoded by the agent's own ``BeatEncoder`` (``publisher/limits.py``), so every one is what an
agent would send (docs/architecture.md, "Wire format").

A session runs through Claude Code's turn cycle, one beat per hook event as the agent publishes:

* waiting for the user (``Stop``, status ``waiting_for_input``; the aggregator derives ``idle``
  once ``last_activity_at`` is older than ``idle_after``, 300 s) for an exponential think time
  (mean :data:`THINK_MEAN`), then ``UserPromptSubmit`` (``working``);
* working: the model thinks (mean :data:`MODEL_GAP`), then either ends the turn (``Stop``,
  probability :data:`STOP_P`, about 12 tool calls per turn) or calls a tool: ``PreToolUse``,
  then ``PostToolUse`` after the tool ran (mean :data:`TOOL_MEAN`): the bursts of pairs;
* with probability :data:`APPROVAL_P` a tool call asks first: ``PreToolUse`` then
  ``PermissionRequest`` (``needs_approval``) until the user answers (mean :data:`APPROVAL_MEAN`),
  then ``PostToolUse``;
* a session with nothing to say for ``HEARTBEAT`` (30 s, the agent's ``heartbeat_interval``) is
  re-published as a heartbeat (``heartbeat: true``, same facts, next ``seq``).

The fleet starts in this cycle's stationary mix (about 23 % working, 1 % needing approval, the
rest waiting, a third of those idle), so the first minute already looks like a steady fleet.
Expected beats per session: ~0.065/s from hooks and ~0.028/s heartbeats (:func:`offered_rate`).
"""

from __future__ import annotations

import heapq
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sessionbeat import __version__, topics
from sessionbeat.models import HostState, HostStatus, PublishedStatus, SessionBeat
from sessionbeat.publisher.limits import BeatEncoder

HEARTBEAT = 30.0
"""Seconds a quiet session waits before its heartbeat (the agent's ``heartbeat_interval``)."""
THINK_MEAN = 300.0
"""Mean seconds a user takes to answer a finished turn (exponential)."""
MODEL_GAP = 6.0
"""Mean seconds between two tool calls of a working session, or before the turn ends."""
TOOL_MEAN = 2.0
"""Mean seconds a tool runs between its ``PreToolUse`` and ``PostToolUse``."""
APPROVAL_MEAN = 30.0
"""Mean seconds a permission prompt waits for the user."""
STOP_P = 1 / 12
"""Probability that a model step ends the turn instead of calling a tool."""
APPROVAL_P = 0.015
"""Probability that a tool call waits for the user's approval."""
REAP_AFTER = 1800.0
"""Message Expiry Interval of every beat, seconds (the agent's default ``reap_after``)."""

TOOLS = ("Bash", "Read", "Edit", "Grep", "Glob", "Write", "Task", "WebFetch", "TodoWrite")
TOOL_WEIGHTS = (30, 25, 18, 10, 6, 4, 3, 2, 2)
MODELS = ("claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5")
MODEL_WEIGHTS = (5, 4, 1)
PERMISSION_MODES = ("default", "acceptEdits", "plan", "bypassPermissions")
PERMISSION_WEIGHTS = (60, 30, 7, 3)
REPO_POOL = 400
"""Repositories in the whole fleet; each host works on 3-5 of them (teams share repositories)."""

WAITING, MODEL, TOOL, APPROVAL = "waiting", "model", "tool", "approval"
"""A simulated session's phase (its published status follows from it)."""
STATUS_OF = {
    WAITING: PublishedStatus.WAITING_FOR_INPUT,
    MODEL: PublishedStatus.WORKING,
    TOOL: PublishedStatus.WORKING,
    APPROVAL: PublishedStatus.NEEDS_APPROVAL,
}


@dataclass(slots=True)
class SimSession:
    """One simulated Claude Code session: its fixed facts and its place in the turn cycle.

    Times ``next_t`` (its next hook event) and ``sent_t`` (its last beat) are simulated seconds;
    ``started_at`` and ``last_activity_at`` are aware UTC datetimes put into the payload.
    """

    index: int
    host_index: int
    host: str
    session_id: str
    repo: str
    branch: str
    cwd: str
    model: str
    context_window: int
    permission_mode: str
    pid: int
    entrypoint: str
    started_at: datetime
    last_activity_at: datetime
    context_tokens: int
    phase: str = WAITING
    event: str = "Stop"
    tool: str | None = None
    subagents: int = 0
    seq: int = 0
    next_t: float = 0.0
    sent_t: float = 0.0
    topic: str = field(default="", repr=False)

    @property
    def status(self) -> PublishedStatus:
        """The status the session's next beat publishes."""
        return STATUS_OF[self.phase]


@dataclass(slots=True)
class Fleet:
    """N hosts x M sessions, the beats' encoder, and the heap of what is due when.

    ``hosts`` lists host ids; ``sessions`` every session (``index`` is its position); ``due``
    holds one ``(due time, index)`` per session: the earlier of its next hook event and its
    heartbeat. ``rng`` drives every random choice (seeded: a run is reproducible).
    """

    hosts: list[str]
    sessions: list[SimSession]
    rng: random.Random
    encoder: BeatEncoder = field(default_factory=BeatEncoder)
    due: list[tuple[float, int]] = field(default_factory=list)

    def birth(self, h: int, now: datetime) -> tuple[str, bytes]:
        """Return host ``h``'s retained birth, as an agent publishes it (online, bdseq 1)."""
        host = self.hosts[h]
        status = HostStatus(
            host=host,
            state=HostState.ONLINE,
            bdseq=1,
            sent_at=now,
            agent_version=__version__,
            pid=2000 + h,
            platform="Linux x86_64",
            heartbeat_interval=HEARTBEAT,
        )
        return topics.status_topic(host), status.model_dump_json(exclude_none=True).encode()

    def beat(self, s: SimSession, now: datetime, heartbeat: bool = False) -> tuple[str, bytes]:
        """Return the session's next beat (``seq`` + 1) as ``(topic, payload)``, ready to publish.

        Built as the agent's ``to_beat`` would (the session's facts, ``bdseq`` 1, ``sent_at`` =
        ``now``) and encoded by the agent's ``BeatEncoder``; raises ``ValueError`` if it does not
        fit (it always does: ~700 bytes).
        """
        s.seq += 1
        beat = SessionBeat(
            host=s.host,
            session_id=s.session_id,
            status=s.status,
            seq=s.seq,
            bdseq=1,
            sent_at=now,
            heartbeat=heartbeat,
            started_at=s.started_at,
            last_activity_at=s.last_activity_at,
            status_at=s.last_activity_at,
            event=s.event,
            cwd=s.cwd,
            repo=s.repo,
            branch=s.branch,
            transcript_path=f"{s.cwd.rsplit('/src/', 1)[0]}/.claude/projects/"
            f"{s.cwd.replace('/', '-')}/{s.session_id}.jsonl",
            tool=s.tool,
            model=s.model,
            context_tokens=s.context_tokens,
            context_window=s.context_window,
            subagents=s.subagents,
            permission_mode=s.permission_mode,
            pid=s.pid,
            claude_version="2.1.328",
            entrypoint=s.entrypoint,
        )
        topic, payload = self.encoder.encode(beat)
        if payload is None:
            raise ValueError(f"beat of {s.session_id} does not fit")
        return topic, payload

    def start(self, t: float) -> None:
        """Schedule every session from simulated time ``t`` (heartbeats spread over 30 s)."""
        self.due = []
        for s in self.sessions:
            s.sent_t = t - self.rng.uniform(0, HEARTBEAT)
            self.due.append((min(s.next_t, s.sent_t + HEARTBEAT), s.index))
        heapq.heapify(self.due)

    def step(self, t: float, now: datetime, limit: int = 1000) -> list[tuple[int, str, bytes]]:
        """Return the beats due by simulated time ``t`` as ``(host index, topic, payload)``.

        ``now`` stamps them; they come in the order they fell due, at most ``limit`` of them
        (the rest stay due: :meth:`behind` says how late the oldest is).

        Each due session either takes its next hook event (and publishes it) or, quiet for
        :data:`HEARTBEAT` seconds, publishes a heartbeat. Call :meth:`start` first.
        """
        out: list[tuple[int, str, bytes]] = []
        while self.due and self.due[0][0] <= t and len(out) < limit:
            at, index = heapq.heappop(self.due)
            s = self.sessions[index]
            if s.next_t <= at:
                advance(s, at, now, self.rng)
                out.append((s.host_index, *self.beat(s, now)))
            else:
                out.append((s.host_index, *self.beat(s, now, heartbeat=True)))
            s.sent_t = at
            heapq.heappush(self.due, (min(s.next_t, at + HEARTBEAT), index))
        return out

    def behind(self, t: float) -> float:
        """Return how many simulated seconds the oldest due beat is late at ``t`` (0 if none)."""
        return max(0.0, t - self.due[0][0]) if self.due else 0.0

    def marker(self, index: int, t: float, now: datetime) -> tuple[str, bytes, int]:
        """Return an extra beat of session ``index`` now (a heartbeat) and its ``seq``."""
        s = self.sessions[index]
        topic, payload = self.beat(s, now, heartbeat=True)
        s.sent_t = t
        return topic, payload, s.seq


def _exp(rng: random.Random, mean: float) -> float:
    return rng.expovariate(1 / mean)


def advance(s: SimSession, t: float, now: datetime, rng: random.Random) -> None:
    """Move ``s`` to its next hook event at simulated time ``t`` (``now``: its wall time).

    Sets the phase, ``event``, ``tool``, ``last_activity_at``, context usage and ``next_t``
    (when the following hook event is due), as the turn cycle in the module docstring says.
    """
    s.last_activity_at = now
    if s.phase == WAITING:
        s.phase, s.event, s.tool = MODEL, "UserPromptSubmit", None
        s.next_t = t + _exp(rng, MODEL_GAP)
    elif s.phase == MODEL:
        if rng.random() < STOP_P:
            s.phase, s.event, s.tool, s.subagents = WAITING, "Stop", None, 0
            s.next_t = t + _exp(rng, THINK_MEAN)
        else:
            s.phase, s.event = TOOL, "PreToolUse"
            s.tool = rng.choices(TOOLS, TOOL_WEIGHTS)[0]
            s.subagents = 1 if s.tool == "Task" else s.subagents
            s.next_t = t + _exp(rng, TOOL_MEAN)
            if rng.random() < APPROVAL_P:  # the PermissionRequest follows its PreToolUse
                s.phase, s.event = APPROVAL, "PermissionRequest"
                s.next_t = t + _exp(rng, APPROVAL_MEAN)
    else:  # TOOL or APPROVAL: the tool ran
        s.phase, s.event = MODEL, "PostToolUse"
        s.context_tokens = min(s.context_window, s.context_tokens + rng.randint(300, 4000))
        if s.context_tokens > 0.8 * s.context_window:  # auto-compaction
            s.context_tokens = int(0.2 * s.context_window)
        s.next_t = t + _exp(rng, MODEL_GAP)


def stationary_phase(rng: random.Random) -> str:
    """Draw a phase from the turn cycle's long-run mix (the fleet's starting point)."""
    tools_per_turn = (1 - STOP_P) / STOP_P
    turn = MODEL_GAP / STOP_P + tools_per_turn * TOOL_MEAN
    approval = tools_per_turn * APPROVAL_P * APPROVAL_MEAN
    total = THINK_MEAN + turn + approval
    x = rng.random() * total
    if x < approval:
        return APPROVAL
    if x < approval + turn:
        return MODEL if rng.random() < MODEL_GAP / (MODEL_GAP + TOOL_MEAN) else TOOL
    return WAITING


def offered_rate(sessions: int) -> float:
    """Return the expected beats per simulated second of ``sessions`` sessions (hooks + beats).

    Hook beats: a cycle of one prompt, the tool pairs, the approvals and the ``Stop``; a
    heartbeat for every :data:`HEARTBEAT` seconds of a quiet phase (waiting, approval).
    """
    tools_per_turn = (1 - STOP_P) / STOP_P
    approvals = tools_per_turn * APPROVAL_P
    cycle = THINK_MEAN + MODEL_GAP / STOP_P + tools_per_turn * TOOL_MEAN + approvals * APPROVAL_MEAN
    hooks = 2 + 2 * tools_per_turn + approvals
    quiet = THINK_MEAN * math.exp(-HEARTBEAT / THINK_MEAN) + approvals * APPROVAL_MEAN * math.exp(
        -HEARTBEAT / APPROVAL_MEAN
    )
    heartbeats = quiet / HEARTBEAT  # quiet seconds past the first heartbeat, about
    return sessions * (hooks + heartbeats) / cycle


def build_fleet(hosts: int, per_host: int, now: datetime, seed: int = 15) -> Fleet:
    """Return ``hosts`` x ``per_host`` sessions in the stationary mix, as of wall time ``now``.

    Hosts are ``dev-0000``...; each works on 3-5 repositories of a shared pool, on a few
    branches, with a mix of models (Opus, Sonnet, Haiku; a tenth with a 1M-token window),
    permission modes and a few headless (``sdk-cli``) runs. Session ids are seeded UUID4s.
    A waiting session's last activity is an exponential age (mean :data:`THINK_MEAN`), so about
    a third of them are past ``idle_after`` (300 s) and show ``idle``.
    """
    rng = random.Random(seed)
    names = [f"dev-{h:04d}" for h in range(hosts)]
    sessions: list[SimSession] = []
    for h, host in enumerate(names):
        repos = [f"repo-{rng.randrange(REPO_POOL):03d}" for _ in range(rng.randint(3, 5))]
        user = f"user{h:04d}"
        for _ in range(per_host):
            index = len(sessions)
            repo = rng.choice(repos)
            branch = rng.choice(
                ("main", "main", f"feature/{repo}-{rng.randrange(40)}", f"fix/{rng.randrange(99)}")
            )
            model = rng.choices(MODELS, MODEL_WEIGHTS)[0]
            window = 1_000_000 if model != "claude-haiku-4-5" and rng.random() < 0.1 else 200_000
            phase = stationary_phase(rng)
            age = _exp(rng, THINK_MEAN) if phase == WAITING else rng.uniform(0, MODEL_GAP)
            s = SimSession(
                index=index,
                host_index=h,
                host=host,
                session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                repo=repo,
                branch=branch,
                cwd=f"/home/{user}/src/{repo}",
                model=model,
                context_window=window,
                permission_mode=rng.choices(PERMISSION_MODES, PERMISSION_WEIGHTS)[0],
                pid=rng.randrange(2000, 4_000_000),
                entrypoint="sdk-cli" if rng.random() < 0.05 else "cli",
                started_at=now - timedelta(seconds=age + rng.uniform(60, 14_400)),
                last_activity_at=now - timedelta(seconds=age),
                context_tokens=rng.randint(15_000, int(0.75 * window)),
                phase=phase,
            )
            s.topic = topics.session_topic(host, s.session_id)
            if phase == WAITING:
                s.next_t = _exp(rng, THINK_MEAN)
            elif phase == APPROVAL:
                s.event, s.tool = "PermissionRequest", rng.choices(TOOLS, TOOL_WEIGHTS)[0]
                s.next_t = _exp(rng, APPROVAL_MEAN)
            elif phase == TOOL:
                s.event, s.tool = "PreToolUse", rng.choices(TOOLS, TOOL_WEIGHTS)[0]
                s.next_t = _exp(rng, TOOL_MEAN)
            else:
                s.event = "PostToolUse"
                s.next_t = _exp(rng, MODEL_GAP)
            sessions.append(s)
    return Fleet(names, sessions, rng)
