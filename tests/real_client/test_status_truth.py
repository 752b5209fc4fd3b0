"""Status truth against the real Claude Code CLI (2.1.328, pinned in package.json).

Each test runs the real ``claude`` offline against the scripted Messages API, with sessionbeat's
hooks and status line installed by the real ``sessionbeat hooks install --statusline``, a real
agent, a real Mosquitto and a real aggregator, and checks what ``GET /sessions`` shows: the
status sequence, the fields, and how soon each change shows after it happened (the hook's
time, the registry's ``statusUpdatedAt``, or the test's key press; compared on the
aggregator's own timeline). The latency bounds are the functional limits the issue sets (a
change no hook reports must not wait for a poll); ``bench/bench_real_client.py`` measures the
same transitions with p50/p95 over repeated runs.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.conftest import FIXTURES, short_tmpdir
from tests.procs import wait_until
from tests.real_client.driver import TmuxClaude, run_print
from tests.real_client.install import claude_code_version
from tests.real_client.live import LiveStack, now
from tests.real_client.messages_api import MessagesAPI, Scenario

pytestmark = pytest.mark.slow

Factory = Callable[[Scenario | str], MessagesAPI]

SOON = 0.5
"""Seconds within which a status change must show in the API (the issue's limit)."""
KILLED = 2.0
"""Seconds within which a killed Claude Code must show as ended (process_exit)."""

# Claude Code's own status line reports this window for its default model (claude-opus-5-5):
# tests/fixtures/claude-code/real-2.1.328/statusline-1.json, context_window.context_window_size.
REAL_STATUSLINE = json.loads((FIXTURES / "real-2.1.328" / "statusline-1.json").read_text())


@pytest.fixture
def live(broker: LocalBroker, claude_home: Path) -> Iterator[LiveStack]:
    """Sessionbeat's agent and aggregator for this test, hooks installed in the test home."""
    stack = LiveStack(broker, claude_home, short_tmpdir("sb-live-"))
    try:
        yield stack
    finally:
        stack.close()


def usage_tokens(scenario: str, reply: str) -> int:
    """Input + cache creation + cache read tokens a scenario's reply sends (the context)."""
    data = json.loads(
        (Path(__file__).parent / "scenarios" / f"{scenario}.json").read_text(encoding="utf-8")
    )
    usage = next(r["usage"] for r in data["replies"] if r.get("name") == reply)
    return int(
        usage["input_tokens"]
        + usage["cache_creation_input_tokens"]
        + usage["cache_read_input_tokens"]
    )


@contextlib.contextmanager
def interactive(
    claude_bin: Path, workdir: Path, live: LiveStack, api: MessagesAPI, **extra: str
) -> Iterator[tuple[TmuxClaude, str]]:
    """Run claude in tmux; yield it and its session id once the API shows it waiting."""
    live.seed(workdir)
    with TmuxClaude(claude_bin, workdir, live.claude_env(api.url, **extra)) as tui:
        tui.wait_for("❯")
        sid = live.only_session()
        live.wait_status(sid, "waiting_for_input")
        yield tui, sid


def ask(tui: TmuxClaude, live: LiveStack, sid: str, prompt: str) -> None:
    """Type a prompt whose Bash call needs permission; wait for the dialog and the API."""
    tui.type_line(prompt)
    tui.wait_for("Do you want to proceed?")
    live.wait_status(sid, "needs_approval")


def press(tui: TmuxClaude, *keys: str) -> float:
    """Press keys in a dialog that just appeared (it drops keys in its first moments).

    Returns the time of the key press.
    """
    time.sleep(0.5)
    at = now()
    tui.send(*keys)
    return at


def test_print_run_reads_waiting_after_its_stop_and_ends_with_other(
    claude_bin: Path, messages_api: Factory, live: LiveStack, workdir: Path
) -> None:
    """`claude -p` with one Bash call: working with the tool, waiting after Stop, then ended."""
    api = messages_api("bash_touch")
    start = now()
    result = run_print(
        claude_bin,
        "make the file",
        workdir,
        live.claude_env(api.url),
        ["--allowedTools", "Bash"],
    )
    assert result.returncode == 0, result.stderr
    sid = live.only_session()
    view = live.wait_status(sid, "ended")
    beats = [json.loads(p) for _t, p, _r in live.beats.messages if p]
    assert any(b["status"] == "working" and b.get("tool") == "Bash" for b in beats)
    timeline = [c["status"] for c in live.detail(sid)["timeline"]]
    assert "working" in timeline
    assert timeline[-2:] == ["waiting_for_input", "ended"]  # not working after the Stop
    turn_over = live.latency(sid, "waiting_for_input", start, ("Stop",), "idle")
    assert turn_over < SOON
    assert (view["end_reason"], view["model"], view["headless"]) == (
        "other",
        "claude-opus-5-5",
        True,
    )
    assert (view["entrypoint"], view["claude_version"]) == ("sdk-cli", claude_code_version())
    assert view["context_tokens"] == usage_tokens("bash_touch", "done")
    window = REAL_STATUSLINE["context_window"]["context_window_size"]
    assert view["context_window"] == window
    assert view["context_pct"] == round(100 * view["context_tokens"] / window, 1)


def test_interactive_approval_at_the_terminal_and_exit(
    claude_bin: Path, messages_api: Factory, live: LiveStack, workdir: Path
) -> None:
    """Prompt, permission, approval (no hook fires), Stop, /exit: each shows at once."""
    api = messages_api("bash_touch")
    with interactive(claude_bin, workdir, live, api) as (tui, sid):
        asked = now()
        tui.type_line("make the file")
        tui.wait_for("Do you want to proceed?")
        view = live.wait_status(sid, "needs_approval")
        assert view["tool"] == "Bash"
        assert live.latency(sid, "needs_approval", asked, ("PermissionRequest",), "waiting") < SOON
        approved = press(tui, "Enter")
        assert live.changed_to(sid, "working", approved) - approved < SOON
        after = [c for c in live.detail(sid)["timeline"] if c["status"] == "working"]
        assert after[-1]["event"] == "registry busy"  # no hook: the registry watch saw it
        tui.wait_for("Done: made made.txt.")
        assert live.latency(sid, "waiting_for_input", approved, ("Stop",), "idle") < SOON
        assert live.recorder.statuses(sid) == [
            "waiting_for_input",
            "working",
            "needs_approval",
            "working",
            "waiting_for_input",
        ]

        # Window and percent as Claude Code's own status line reports them.
        def agrees() -> bool:
            inputs = [s for s in live.statusline_inputs() if s["context_window"]["current_usage"]]
            if not inputs:
                return False
            own = inputs[-1]["context_window"]
            used = own["current_usage"]
            tokens = (
                used["input_tokens"]
                + used["cache_creation_input_tokens"]
                + used["cache_read_input_tokens"]
            )
            v = live.sessions()[sid]
            return (
                v["context_tokens"] == tokens
                and v["context_window"] == own["context_window_size"]
                and round(v["context_pct"]) == own["used_percentage"]
            )

        wait_until(agrees, 10, what="the API agreeing with Claude Code's status line")
        view = live.sessions()[sid]
        assert (view["claude_version"], view["entrypoint"], view["headless"]) == (
            claude_code_version(),
            "cli",
            False,
        )
        assert view["tmux"] == "claude:@0.%0"
        tui.type_line("/exit")
        view = live.wait_status(sid, "ended")
        assert view["end_reason"] == "prompt_input_exit"


def test_a_foreground_subagent_counts_while_it_runs(
    claude_bin: Path, messages_api: Factory, live: LiveStack, workdir: Path
) -> None:
    """The Agent tool in the foreground: subagents 1 while it runs, 0 when the turn is over."""
    api = messages_api("subagent")
    with interactive(claude_bin, workdir, live, api, CLAUDE_CODE_DISABLE_BACKGROUND_TASKS="1") as (
        tui,
        sid,
    ):
        tui.type_line("delegate please")
        wait_until(
            lambda: (v := live.sessions()[sid])["subagents"] == 1 and v["status"] == "working",
            30,
            what="one running subagent",
        )
        tui.wait_for("Agent finished.")
        view = live.wait_status(sid, "waiting_for_input")
        assert view["subagents"] == 0
        running = [s for s in live.recorder.history(sid) if s.subagents == 1]
        assert running
        assert {s.status for s in running} == {"working"}


def test_no_at_the_prompt_and_esc_during_a_tool_fire_no_hook_but_show(
    claude_bin: Path, messages_api: Factory, live: LiveStack, workdir: Path
) -> None:
    """Answering No leaves needs_approval, Esc leaves working: at once, no stale tool."""
    api = messages_api("deny_interrupt")
    with interactive(claude_bin, workdir, live, api) as (tui, sid):
        ask(tui, live, sid, "make the file")
        declined = press(tui, "4")
        assert live.changed_to(sid, "waiting_for_input", declined) - declined < SOON
        view = live.wait_status(sid, "waiting_for_input")
        assert (view["tool"], view["status_source"]) == (None, "registry")
        assert not (workdir / "denied.txt").exists()

        ask(tui, live, sid, "wait please")
        press(tui, "Enter")
        view = live.wait_status(sid, "working")
        assert view["tool"] == "Bash"
        time.sleep(1.0)  # the command runs
        interrupted = now()
        tui.send("Escape")
        assert live.changed_to(sid, "waiting_for_input", interrupted) - interrupted < SOON
        view = live.wait_status(sid, "waiting_for_input")
        assert (view["tool"], view["status_source"]) == (None, "registry")


def test_compact_works_then_waits_and_the_context_drops(
    claude_bin: Path, messages_api: Factory, live: LiveStack, workdir: Path
) -> None:
    """/compact: working while it compacts, waiting right after, context to the new size."""
    api = messages_api("compact")
    with interactive(claude_bin, workdir, live, api) as (tui, sid):
        ask(tui, live, sid, "make the file")
        press(tui, "Enter")
        tui.wait_for("Done.")
        before = usage_tokens("compact", "done")
        wait_until(lambda: live.sessions()[sid]["context_tokens"] == before, 10)
        live.wait_status(sid, "waiting_for_input")
        typed = now()
        tui.type_line("/compact")
        live.wait_status(sid, "working")
        assert live.latency(sid, "waiting_for_input", typed, ("PostCompact",), "idle") < SOON
        transcript = Path(live.sessions()[sid]["transcript_path"])
        boundaries = [
            json.loads(line)
            for line in wait_until(
                lambda: [
                    line
                    for line in transcript.read_text().splitlines()
                    if '"compact_boundary"' in line
                ],
                10,
            )
        ]
        after = boundaries[-1]["compactMetadata"]["postTokens"]
        assert after < before
        wait_until(lambda: live.sessions()[sid]["context_tokens"] == after, 10)
        sessions = live.sessions()
        assert list(sessions) == [sid]  # compaction kept the session, none was added
        assert sessions[sid]["status"] == "waiting_for_input"


def test_kill_9_while_waiting_ends_with_process_exit(
    claude_bin: Path, messages_api: Factory, live: LiveStack, workdir: Path
) -> None:
    """Kill -9 of claude fires no hook and leaves its registry file: ended soon anyway."""
    api = messages_api("bash_touch")
    with interactive(claude_bin, workdir, live, api) as (tui, sid):
        killed = now()
        tui.kill9()
        assert live.changed_to(sid, "ended", killed) - killed < KILLED
        view = live.wait_status(sid, "ended")
        assert view["end_reason"] == "process_exit"
