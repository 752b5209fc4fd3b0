"""Benchmark huge hooks at once: whether they arrive whole, and the agent's peak memory.

Usage: .venv/bin/python bench/bench_big_hooks.py [--hooks 20] [--mb 30] [--src DIR]

Issue 12, item 10: "20 hooks of 30 MB at once: 13 arrived cut off and were lost, agent RSS
peaked at 1.04 GB." A real agent (``sessionbeat agent run``) on a real Mosquitto; N
``sessionbeat publish`` processes start at once, each with a PostToolUse hook input of about
``--mb`` MB (a Bash result), each for its own session. The agent's RSS is sampled every 10 ms
(psutil) from before the hooks start until every event is handled. Reported: how many sessions
arrived, how many events were handled, cut ones (``bad_hook_json``), frames refused by reason,
and the agent's peak RSS against its RSS at rest.

``--src DIR`` runs the agent and the hooks from another source tree (e.g. an older commit
exported with ``git archive``), for a before/after in the same run conditions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import short_tmpdir  # noqa: E402
from tests.procs import SCRIPT, Agent, wait_until  # noqa: E402

from sessionbeat.broker.embedded import LocalBroker  # noqa: E402


def status(agent: Agent) -> dict[str, Any]:
    """Return the agent's status file ({} while absent)."""
    try:
        data: dict[str, Any] = json.loads((agent.state_dir / "agent-status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def main() -> None:
    """Run N concurrent big hooks against one agent and print what arrived and the peak RSS."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--hooks", type=int, default=20)
    parser.add_argument("--mb", type=int, default=30)
    parser.add_argument("--src", type=Path, default=None, help="source tree to run instead")
    args = parser.parse_args()
    extra = {"PYTHONPATH": str(args.src.resolve())} if args.src else {}
    with LocalBroker(short_tmpdir("sb-bench-")) as broker:
        agent = Agent(broker.url, short_tmpdir() / "bulky", "bulky", **extra)
        try:
            wait_until(lambda: status(agent).get("online"), 15)
            rest = psutil.Process(agent.pid).memory_info().rss
            peak = [rest]
            done = threading.Event()

            def sample() -> None:
                proc = psutil.Process(agent.pid)
                while not done.is_set():
                    peak[0] = max(peak[0], proc.memory_info().rss)
                    time.sleep(0.01)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            padding = "x" * (args.mb * 1024 * 1024)
            sids = [f"0f0e0d0c-1111-2222-3333-{n:012d}" for n in range(args.hooks)]

            def run(sid: str) -> int:
                payload = json.dumps(
                    {
                        "session_id": sid,
                        "hook_event_name": "PostToolUse",
                        "cwd": "/home/kai/work",
                        "tool_name": "Bash",
                        "tool_input": {"command": "cat big.log"},
                        "tool_response": {"stdout": padding, "stderr": ""},
                    }
                ).encode()
                return subprocess.run(
                    [SCRIPT, "publish"], input=payload, env=agent.env, timeout=300
                ).returncode

            start = time.monotonic()
            with ThreadPoolExecutor(args.hooks) as pool:
                codes = list(pool.map(run, sids))
            # Settled: every event handled (or nothing new for 5 s), and the inbox empty.
            last, quiet = -1, time.monotonic()
            while time.monotonic() - quiet < 5:
                st = status(agent)
                handled = st.get("events", 0)
                inbox = list((agent.state_dir / "inbox").glob("*.evt"))
                if handled >= args.hooks and not inbox:
                    break
                if handled != last:
                    last, quiet = handled, time.monotonic()
                time.sleep(0.1)
            elapsed = time.monotonic() - start
            time.sleep(1.5)  # one more status write
            done.set()
            sampler.join()
            st = status(agent)
        finally:
            agent.stop()
    arrived = {s["session_id"] for s in st.get("sessions", [])} & set(sids)
    print(f"hooks: {args.hooks} x {args.mb} MB, exit codes {sorted(set(codes))}")
    print(f"sessions arrived: {len(arrived)} / {args.hooks}; events handled {st.get('events')}")
    print(f"cut (bad_hook_json): {st.get('bad_events', {}).get('bad_hook_json', 0)}")
    print(f"frames refused: {st.get('frames_refused', 'n/a (not counted by this agent)')}")
    print(f"agent RSS: at rest {rest / 2**20:.0f} MiB, peak {peak[0] / 2**20:.0f} MiB")
    print(f"all handled after {elapsed:.1f} s")


if __name__ == "__main__":
    main()
