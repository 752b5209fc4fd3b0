"""Benchmark the hook path: `sessionbeat publish` wall time, and hook -> visible in the API.

Usage: .venv/bin/python bench/bench_hook.py [--runs 200] [--latency-runs 100]

1. Whole-process wall time of the installed `sessionbeat publish` (the command Claude Code runs)
   with a running agent, interleaved run by run with the baseline `python -c pass` of the same
   interpreter. Bars (docs/architecture.md): p50 <= 2.5 x baseline p50, p95 < 100 ms.
2. Hook -> visible: from starting `sessionbeat publish` to `GET /sessions/{id}` returning the
   new seq, on loopback, through agent -> Mosquitto -> aggregator. Bar: p95 < 250 ms.

The payload is a real UserPromptSubmit fixture; only its session_id is replaced per run so that
each run creates a new session.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import SCRIPT, Agent, Aggregator, wait_until  # noqa: E402

from sessionbeat.broker.embedded import LocalBroker  # noqa: E402
from sessionbeat.stack.replay import RECORDINGS  # noqa: E402

FIXTURE = RECORDINGS / "hook-UserPromptSubmit-3.json"


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of ``values`` (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def timed(argv: list[str], stdin: bytes, env: dict[str, str]) -> float:
    """Run ``argv`` once; return its wall time in milliseconds."""
    start = time.perf_counter()
    subprocess.run(argv, input=stdin, env=env, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def payload(session_id: str) -> bytes:
    """Return the real fixture with another session_id, as compact JSON bytes."""
    data = json.loads(FIXTURE.read_text())
    data["session_id"] = session_id
    return json.dumps(data, separators=(",", ":")).encode()


def main() -> None:
    """Run both measurements and print a report with ratios and bars."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--latency-runs", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sbb-", dir="/tmp"))
    with LocalBroker(root / "broker") as broker:
        aggregator = Aggregator(broker.url, root / "agg")
        agent = Agent(
            broker.url,
            root / "agent",
            "bench-host",
            SESSIONBEAT_LOG_LEVEL="WARNING",
            SESSIONBEAT_AGENT_AUTOSTART="0",
        )
        env = dict(agent.env)
        try:
            base: list[float] = []
            hook: list[float] = []
            for i in range(args.runs + 10):
                b = timed([sys.executable, "-c", "pass"], b"", env)
                h = timed([SCRIPT, "publish"], payload(f"bench-{i:05d}"), env)
                if i >= 10:  # warm-up
                    base.append(b)
                    hook.append(h)
            latencies: list[float] = []
            with httpx.Client(base_url=aggregator.url, timeout=5) as client:
                for i in range(args.latency_runs):
                    sid = f"lat-{os.getpid()}-{i:05d}"
                    body = payload(sid)
                    start = time.perf_counter()
                    proc = subprocess.Popen([SCRIPT, "publish"], stdin=subprocess.PIPE, env=env)
                    proc.communicate(body)
                    wait_until(
                        lambda sid=sid: client.get(f"/sessions/{sid}").status_code == 200,
                        10,
                        interval=0.001,
                    )
                    latencies.append((time.perf_counter() - start) * 1000)
        finally:
            agent.stop()
            aggregator.stop()
    b50, h50, h95 = pct(base, 0.5), pct(hook, 0.5), pct(hook, 0.95)
    l50, l95 = pct(latencies, 0.5), pct(latencies, 0.95)
    ratio = h50 / b50
    verdict = {True: "PASS", False: "FAIL"}
    print(f"python -c pass         p50 {b50:6.1f} ms  p95 {pct(base, 0.95):6.1f} ms  n={len(base)}")
    print(f"sessionbeat publish    p50 {h50:6.1f} ms  p95 {h95:6.1f} ms  n={len(hook)}")
    print(f"ratio p50 publish/pass {ratio:5.2f} x  (bar <= 2.5 x: {verdict[ratio <= 2.5]})")
    print(f"publish p95 {h95:.1f} ms (bar < 100 ms: {verdict[h95 < 100]})")
    print(
        f"hook -> GET /sessions  p50 {l50:6.1f} ms  p95 {l95:6.1f} ms  n={len(latencies)}"
        f"  (bar p95 < 250 ms: {verdict[l95 < 250]})"
    )


if __name__ == "__main__":
    main()
