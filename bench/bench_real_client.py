"""Benchmark status truth with the real Claude Code CLI: latency per transition, p50/p95.

Usage: .venv/bin/python bench/bench_real_client.py [--runs 10] [--no-baseline]

Runs the pinned Claude Code (``tests/real_client/package.json``, installed into the test cache
like the tests do) interactively in tmux against the project's scripted Messages API, with
sessionbeat's hooks and status line installed, a real agent, Mosquitto and aggregator, in a
temporary HOME. Each run plays two sessions:

* ``bash_touch``: a prompt whose Bash call needs permission, approved with Enter; the turn ends
  (Stop); then the process is killed with SIGKILL;
* ``deny_interrupt``: "No" at a permission prompt; then a long Bash call approved and
  interrupted with Esc.

Measured for each transition, from the moment it happened to the aggregator applying the new
status (both on this machine's clock; the aggregator's timeline, ``GET /sessions/{id}``):

==========================  =========================================================
transition                  measured from
==========================  =========================================================
needs_approval              the PermissionRequest hook or the registry's ``waiting``
approved -> working         the Enter key press (no hook fires)
Stop -> waiting_for_input   the Stop hook
No -> waiting_for_input     the "4" key press (no hook fires)
Esc -> waiting_for_input    the Escape key press (no hook fires)
kill -9 -> ended            the SIGKILL
==========================  =========================================================

The baseline, measured in the same run, is the same agent with the registry polled every 2 s
instead of watched (``SESSIONBEAT_REGISTRY_WATCH=false``): the design before. Goals: p95 under
500 ms for every transition but kill (under 2 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.real_client.driver import TmuxClaude  # noqa: E402
from tests.real_client.install import claude_code_version, ensure_claude  # noqa: E402
from tests.real_client.live import LiveStack, now  # noqa: E402
from tests.real_client.messages_api import MessagesAPI  # noqa: E402

from sessionbeat.broker.embedded import LocalBroker  # noqa: E402

GOALS = {"kill -9 -> ended": 2.0}
DEFAULT_GOAL = 0.5


@contextmanager
def temp_home(root: Path) -> Iterator[Path]:
    """Point HOME, XDG dirs and CLAUDE_CONFIG_DIR at a fresh temp home for one session."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
    keys = ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "CLAUDE_CONFIG_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        CLAUDE_CONFIG_DIR=str(home / ".claude"),
        SESSIONBEAT_CONFIG=str(home / "none.toml"),
    )
    (home / ".claude").mkdir()
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def session(
    broker: LocalBroker, root: Path, claude: Path, scenario: str, watch: bool
) -> Iterator[tuple[LiveStack, TmuxClaude, str]]:
    """One interactive Claude Code session with its own home, agent and aggregator."""
    with temp_home(root) as home:
        workdir = home / "work" / "demo"
        workdir.mkdir(parents=True)
        os.environ["SESSIONBEAT_REGISTRY_WATCH"] = "true" if watch else "false"
        live = LiveStack(broker, home, Path(tempfile.mkdtemp(prefix="live-", dir=root)))
        api = MessagesAPI(scenario).start()
        try:
            live.seed(workdir)
            with TmuxClaude(claude, workdir, live.claude_env(api.url)) as tui:
                tui.wait_for("❯")
                sid = live.only_session()
                live.wait_status(sid, "waiting_for_input")
                yield live, tui, sid
        finally:
            api.stop()
            live.close()
            os.environ.pop("SESSIONBEAT_REGISTRY_WATCH", None)


def press(tui: TmuxClaude, *keys: str) -> float:
    """Press keys in a dialog that just appeared (it drops keys in its first moments)."""
    time.sleep(0.5)
    at = now()
    tui.send(*keys)
    return at


def one_run(
    broker: LocalBroker, root: Path, claude: Path, watch: bool, out: dict[str, list[float]]
) -> None:
    """Play both sessions once; append each transition's latency (seconds) to ``out``."""
    with session(broker, root, claude, "bash_touch", watch) as (live, tui, sid):
        asked = now()
        tui.type_line("make the file")
        tui.wait_for("Do you want to proceed?")
        out["needs_approval"].append(
            live.latency(sid, "needs_approval", asked, ("PermissionRequest",), "waiting")
        )
        approved = press(tui, "Enter")
        out["approved -> working"].append(live.changed_to(sid, "working", approved) - approved)
        tui.wait_for("Done: made made.txt.")
        out["turn over -> waiting_for_input"].append(
            live.latency(sid, "waiting_for_input", approved, ("Stop",), "idle")
        )
        killed = now()
        tui.kill9()
        out["kill -9 -> ended"].append(live.changed_to(sid, "ended", killed) - killed)
    with session(broker, root, claude, "deny_interrupt", watch) as (live, tui, sid):
        tui.type_line("make the file")
        tui.wait_for("Do you want to proceed?")
        live.wait_status(sid, "needs_approval")
        declined = press(tui, "4")
        out["No -> waiting_for_input"].append(
            live.changed_to(sid, "waiting_for_input", declined) - declined
        )
        tui.type_line("wait please")
        tui.wait_for("Do you want to proceed?")
        live.wait_status(sid, "needs_approval")
        press(tui, "Enter")
        live.wait_status(sid, "working")
        time.sleep(1.0)
        interrupted = now()
        tui.send("Escape")
        out["Esc -> waiting_for_input"].append(
            live.changed_to(sid, "waiting_for_input", interrupted) - interrupted
        )


def pct(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    """Run the sessions, print p50/p95/max per transition and the ratio to the baseline."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-baseline", action="store_true", help="skip the polling agent")
    args = parser.parse_args()
    claude = ensure_claude()
    root = Path(tempfile.mkdtemp(prefix="sbb-real-", dir="/tmp"))
    os.environ["SESSIONBEAT_AGENT_AUTOSTART"] = "0"
    watch: dict[str, list[float]] = defaultdict(list)
    poll: dict[str, list[float]] = defaultdict(list)
    with LocalBroker(root / "broker") as broker:
        for i in range(args.runs):
            one_run(broker, root, claude, True, watch)
            if not args.no_baseline:
                one_run(broker, root, claude, False, poll)
            print(f"run {i + 1}/{args.runs} done", file=sys.stderr)
    print(f"Claude Code {claude_code_version()}, {args.runs} runs; milliseconds")
    header = f"{'transition':32} {'p50':>7} {'p95':>7} {'max':>7}   {'poll p50':>8} {'ratio':>6}"
    print(f"{header}  goal")
    for name, values in watch.items():
        ms = [1000 * v for v in values]
        goal = GOALS.get(name, DEFAULT_GOAL)
        verdict = "PASS" if pct(values, 0.95) < goal else "FAIL"
        base = poll.get(name)
        base_p50 = 1000 * statistics.median(base) if base else float("nan")
        ratio = statistics.median(ms) / base_p50 if base else float("nan")
        print(
            f"{name:32} {statistics.median(ms):7.1f} {pct(ms, 0.95):7.1f} {max(ms):7.1f}"
            f"   {base_p50:8.1f} {ratio:6.3f}  p95 < {goal * 1000:.0f}: {verdict}"
        )


if __name__ == "__main__":
    main()
