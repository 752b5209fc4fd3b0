"""The status rule: hook events and registry readings merged by time (publisher/status.py).

The times below follow what Claude Code 2.1.328 was measured to do (docs/architecture.md,
"Status: the newest observation decides"): the registry changes the moment the status changes,
hooks arrive in between, and some changes (approval at the terminal, Esc, "No") fire no hook.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sessionbeat.claude_code.hook_input import HookInput
from sessionbeat.models import PublishedStatus, StatusSource
from sessionbeat.publisher.beat import to_beat
from sessionbeat.publisher.reducers import apply_hook, apply_registry
from sessionbeat.publisher.session import LocalSession, RegistryReading, new_session
from sessionbeat.publisher.status import Observation, decide

T0 = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
SID = "e5cffe6f-3350-4e05-b351-e771dc44c31b"
WORK, ASK, WAIT, UNKNOWN = (
    PublishedStatus.WORKING,
    PublishedStatus.NEEDS_APPROVAL,
    PublishedStatus.WAITING_FOR_INPUT,
    PublishedStatus.UNKNOWN,
)
HOOK_FOR = {
    WORK: {"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}},
    ASK: {"hook_event_name": "PermissionRequest", "tool_name": "Bash"},
    WAIT: {"hook_event_name": "Stop"},
}
WORD_FOR = {WORK: "busy", ASK: "waiting", WAIT: "idle", UNKNOWN: "shell"}


def ms(n: float) -> datetime:
    return T0 + timedelta(milliseconds=n)


def hook(session: LocalSession | None, status: PublishedStatus, at: datetime) -> LocalSession:
    data = {"session_id": SID, "cwd": "/home/user/work/demo", **HOOK_FOR[status]}
    return apply_hook(session, HookInput.model_validate(data), at, "kai-server")


def reading(word: str | None, at: datetime | None, **extra: object) -> RegistryReading:
    return RegistryReading(SID, 4846, word, True, 1.0, status_at=at, **extra)  # type: ignore[arg-type]


def registry(session: LocalSession, word: str | None, at: datetime | None) -> LocalSession:
    return apply_registry(session, reading(word, at), ms(99_999))


observations = st.lists(
    st.tuples(
        st.integers(0, 60_000),
        st.sampled_from([StatusSource.HOOK, StatusSource.REGISTRY]),
        st.sampled_from([WORK, ASK, WAIT, UNKNOWN]),
    ).filter(lambda o: o[1] is StatusSource.REGISTRY or o[2] is not UNKNOWN),
    min_size=1,
    max_size=12,
    unique_by=lambda o: o[0],
)


@given(observations.flatmap(lambda obs: st.permutations(obs)))
def test_any_interleaving_ends_at_the_newest_observation(order: list[tuple[int, ...]]) -> None:
    """Whatever order hooks and readings arrive in, every beat carries the newest one's status."""
    session = new_session(SID, "kai-server", ms(-1000))
    newest: tuple[int, StatusSource, PublishedStatus] | None = None
    for at_ms, source, status in order:  # type: ignore[misc]
        at = ms(at_ms)
        if source is StatusSource.HOOK:
            session = hook(session, status, at)
        else:
            session = registry(session, WORD_FOR[status], at)
        if newest is None or at_ms > newest[0]:
            newest = (at_ms, source, status)
        beat = to_beat(session, ms(100_000))
        assert (beat.status, beat.status_source, beat.status_at) == (
            newest[2],
            newest[1],
            ms(newest[0]),
        )


def test_a_tie_goes_to_the_hook() -> None:
    """A hook and a reading of the same instant: the hook decides (it carries the detail)."""
    at = ms(10)
    chosen = decide(
        Observation(ASK, at, StatusSource.HOOK), Observation(WORK, at, StatusSource.REGISTRY)
    )
    assert chosen == Observation(ASK, at, StatusSource.HOOK)
    assert decide(None, None) is None


def test_an_interactive_turn_with_an_approval_as_measured() -> None:
    """Prompt, permission, approval at the terminal (no hook), Stop: each step right at once."""
    steps = [
        ("registry", "idle", 0, WAIT),
        ("registry", "busy", 9_585, WORK),  # the prompt: the registry moves first
        ("hook", WORK, 9_645, WORK),  # UserPromptSubmit
        ("hook", WORK, 9_800, WORK),  # PreToolUse
        ("hook", ASK, 9_841, ASK),  # PermissionRequest: at once, not after a registry poll
        ("registry", "waiting", 9_855, ASK),
        ("registry", "busy", 13_605, WORK),  # approved at the terminal: no hook fires
        ("hook", WORK, 13_690, WORK),  # PostToolUse
        ("hook", WAIT, 13_762, WAIT),  # Stop
        ("registry", "idle", 13_790, WAIT),
    ]
    session = new_session(SID, "kai-server", ms(-1000))
    for source, what, at, expected in steps:
        if source == "hook":
            session = hook(session, what, ms(at))  # type: ignore[arg-type]
        else:
            session = registry(session, what, ms(at))  # type: ignore[arg-type]
        assert session.status is expected, (source, what, at)
    after_approval = registry(hook(hook(None, WORK, ms(1)), ASK, ms(2)), "busy", ms(3))
    assert (after_approval.status, after_approval.tool) == (WORK, "Bash")


def test_a_print_run_reads_waiting_after_its_stop() -> None:
    """`claude -p` keeps its registry at busy until exit: the newer Stop hook decides."""
    session = registry(new_session(SID, "kai-server", ms(0)), "busy", ms(5))
    session = hook(session, WORK, ms(90))
    session = hook(session, WAIT, ms(300))
    assert (session.status, session.status_source) == (WAIT, StatusSource.HOOK)
    session = registry(session, "busy", ms(5))  # the same old reading, read again
    assert session.status is WAIT


def test_esc_and_no_clear_the_tool_without_a_hook() -> None:
    """Esc during a tool, or "No" at the prompt: the registry's idle ends the turn, tool gone."""
    running = hook(hook(None, WORK, ms(1)), WORK, ms(2))
    assert running.tool == "Bash"
    after_esc = registry(running, "idle", ms(150))
    beat = to_beat(after_esc, ms(200))
    assert (beat.status, beat.tool, beat.status_source) == (WAIT, None, StatusSource.REGISTRY)
    asking = registry(hook(running, ASK, ms(3)), "waiting", ms(4))
    after_no = registry(asking, "idle", ms(110))
    assert (after_no.status, after_no.tool) == (WAIT, None)


def test_a_stale_reading_never_overrides_a_newer_one() -> None:
    """A reading dated before the one applied (read in a race) changes no status."""
    session = registry(hook(None, WORK, ms(1)), "idle", ms(50))
    session = registry(session, "busy", ms(20))
    assert (session.status, session.registry_status_at) == (WAIT, ms(50))


def test_a_reading_without_status_time_is_dated_when_its_word_changes() -> None:
    """Versions without statusUpdatedAt: a changed word counts from when the agent saw it."""
    session = hook(None, WORK, ms(100))
    session = apply_registry(session, reading("idle", None), ms(200))
    assert (session.status, session.registry_status_at) == (WAIT, ms(200))
    session = hook(session, WORK, ms(300))
    session = apply_registry(session, reading("idle", None), ms(400))  # the same word again
    assert (session.status, session.registry_status_at) == (WORK, ms(200))


def test_registry_facts_reach_the_beat() -> None:
    """The beat carries waitingFor while waiting, the name as task, version, entrypoint, pane."""
    session = hook(hook(None, WORK, ms(1)), ASK, ms(2))
    waiting = reading(
        "waiting",
        ms(3),
        waiting_for="permission prompt",
        name="work-a8",
        version="2.1.328",
        entrypoint="cli",
        tmux="main:@0.%0",
    )
    beat = to_beat(apply_registry(session, waiting, ms(4)), ms(5))
    assert (beat.waiting_for, beat.task, beat.claude_version, beat.entrypoint, beat.tmux) == (
        "permission prompt",
        "work-a8",
        "2.1.328",
        "cli",
        "main:@0.%0",
    )
    assert (beat.registry_status, beat.registry_status_at) == ("waiting", ms(3))
    approved = apply_registry(
        apply_registry(session, waiting, ms(4)), reading("busy", ms(9)), ms(10)
    )
    assert to_beat(approved, ms(11)).waiting_for is None


def test_no_registry_entry_hands_the_status_back_to_the_hooks() -> None:
    """An entry that is gone while the process lives: the hooks' status stands alone."""
    session = registry(hook(None, WORK, ms(1)), "idle", ms(5))
    assert session.status is WAIT
    gone = apply_registry(session, None, ms(10))
    assert (gone.status, gone.status_source, gone.registry_status) == (
        WORK,
        StatusSource.HOOK,
        None,
    )
