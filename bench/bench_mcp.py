"""Benchmark ``sessionbeat mcp``: start-up, and each tool call through the real stdio client.

Usage: .venv/bin/python bench/bench_mcp.py [--sessions 100] [--starts 10] [--calls 50]

A real Mosquitto and ``sessionbeat aggregator`` hold ``--sessions`` live sessions on 5 hosts
and 10 repositories (a tenth of them on the caller's repository ``sessionbeat``) and 50 ended
ones in the history, published as retained SessionBeats. ``sessionbeat mcp`` is started by the
official MCP SDK's ``stdio_client`` (as Claude Code starts it: a child process), with the
caller's entry in a Claude Code session registry for this process's pid, in a real git
repository.

1. **Start-up**: from spawning ``sessionbeat mcp`` to the answer of MCP's ``initialize``,
   ``--starts`` times; the baseline, measured in the same run, is ``sessionbeat --version``
   (spawn to exit), the CLI's own start-up. Also the first ``who_else_is_here`` right after
   ``initialize`` (a cold call: the API client's first connection, the first thread).
2. **Per call**: ``--calls`` calls of each tool in one running server, p50 and p95 (client
   side: request written to answer parsed).

Goal (issue 14): a ``who_else_is_here`` answer within a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from tests.aggregator.support import Publisher, beat  # noqa: E402
from tests.procs import SCRIPT, Aggregator, wait_until, write_registry_entry  # noqa: E402

from sessionbeat import topics  # noqa: E402
from sessionbeat.broker.embedded import LocalBroker  # noqa: E402
from sessionbeat.models import HostState, utc_now  # noqa: E402

HOSTS = 5
REPOS = 10
ENDED = 50
STATUSES = ("working", "needs_approval", "waiting_for_input", "working")


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of ``values`` (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def ms(seconds: float) -> str:
    """Return seconds as whole milliseconds."""
    return f"{seconds * 1000:.0f} ms"


def load(publisher: Publisher, aggregator: Aggregator, root: Path, count: int) -> list[str]:
    """Publish ``count`` live and :data:`ENDED` reaped sessions; return the live ids."""
    now = utc_now()
    tag = uuid.uuid4().hex[:6]
    hosts = [f"bench-{tag}-{i}" for i in range(HOSTS)]
    for bdseq, host in enumerate(hosts, 1):
        publisher.status(host, HostState.ONLINE, bdseq, sent_at=now)
    ids = []
    for i in range(count):
        repo = "sessionbeat" if i % REPOS == 0 else f"repo-{i % REPOS}"
        sid = f"live-{tag}-{i}"
        ids.append(sid)
        publisher.beat(
            beat(
                hosts[i % HOSTS],
                sid,
                status=STATUSES[i % len(STATUSES)],
                sent_at=now,
                started_at=now,
                last_activity_at=now,
                repo=repo,
                branch="main" if i % 3 else "feature",
                cwd=str(root / repo),
                tool="Edit",
                task=f"task {i}",
            ),
            wait=False,
        )
    for i in range(ENDED):
        sid = f"ended-{tag}-{i}"
        publisher.beat(
            beat(hosts[0], sid, status="ended", sent_at=now, repo="sessionbeat", cwd=str(root))
        )
        publisher.clear(topics.session_topic(hosts[0], sid))
    wait_until(
        lambda: set(ids) <= {s["session_id"] for s in aggregator.get("/sessions")}, 60, what="load"
    )
    wait_until(lambda: aggregator.get("/history")["total"] >= ENDED, 60, what="history")
    return ids


def with_server(
    env: dict[str, str], cwd: Path, run: Callable[[ClientSession], Awaitable[Any]]
) -> Any:
    """Start ``sessionbeat mcp`` with the SDK's stdio client and return ``run(session)``."""

    async def main() -> Any:
        params = StdioServerParameters(command=SCRIPT, args=["mcp"], env=env, cwd=cwd)
        with open(os.devnull, "w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                return await run(session)

    return anyio.run(main)


def startups(env: dict[str, str], cwd: Path, count: int) -> tuple[list[float], list[float]]:
    """Return, per start, spawn->initialize and the first who_else_is_here call (seconds)."""
    inits, firsts = [], []
    for _ in range(count):

        async def run(session: ClientSession) -> tuple[float, float]:
            await session.initialize()
            ready = time.perf_counter()
            result = await session.call_tool("who_else_is_here", {})
            assert not result.isError, result
            return ready, time.perf_counter() - ready

        start = time.perf_counter()
        ready, first = with_server(env, cwd, run)
        inits.append(ready - start)
        firsts.append(first)
    return inits, firsts


def version_startups(count: int) -> list[float]:
    """Return the wall time of ``sessionbeat --version`` runs (seconds)."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        subprocess.run([SCRIPT, "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def calls(env: dict[str, str], cwd: Path, count: int, sid: str) -> dict[str, list[float]]:
    """Return the client-side time of ``count`` calls of each tool in one server (seconds)."""
    asks: dict[str, dict[str, Any]] = {
        "who_else_is_here": {},
        "active_sessions": {},
        "active_sessions(repo)": {"repo": "sessionbeat"},
        "session": {"session_id": sid},
        "recent_sessions": {"repo": "sessionbeat"},
    }

    async def run(session: ClientSession) -> dict[str, list[float]]:
        await session.initialize()
        await session.call_tool("who_else_is_here", {})  # warm
        times: dict[str, list[float]] = {name: [] for name in asks}
        for _ in range(count):
            for label, args in asks.items():
                start = time.perf_counter()
                result = await session.call_tool(label.split("(")[0], args)
                times[label].append(time.perf_counter() - start)
                assert not result.isError, result
        return times

    out: dict[str, list[float]] = with_server(env, cwd, run)
    return out


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-mcp-") as tmp:
        root = Path(tmp)
        repo = root / "sessionbeat"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
        with LocalBroker(root / "broker") as broker:
            aggregator = Aggregator(broker.url, root / "agg")
            publisher = Publisher(broker)
            try:
                ids = load(publisher, aggregator, root, args.sessions)
                claude = root / "claude"
                (claude / "sessions").mkdir(parents=True)
                write_registry_entry(
                    claude / "sessions" / f"{os.getpid()}.json",
                    os.getpid(),
                    ids[0],
                    "busy",
                    cwd=str(repo),
                )
                env = {
                    **os.environ,
                    "SESSIONBEAT_API_URL": aggregator.url,
                    "CLAUDE_CONFIG_DIR": str(claude),
                    "HOME": str(root),
                }
                env.pop("CLAUDE_CODE_SESSION_ID", None)
                version = version_startups(args.starts)
                inits, firsts = startups(env, repo, args.starts)
                per_call = calls(env, repo, args.calls, ids[1])
            finally:
                publisher.close()
                aggregator.stop()
    print(f"{args.sessions} live sessions, {ENDED} in the history; medians, p95")
    print(f"{'':32} {'p50':>8} {'p95':>8}")
    rows = [
        ("sessionbeat --version", version),
        ("sessionbeat mcp: initialize", inits),
        ("first who_else_is_here", firsts),
        *per_call.items(),
    ]
    for label, values in rows:
        print(f"{label:32} {ms(pct(values, 0.5)):>8} {ms(pct(values, 0.95)):>8}")
    ratio = statistics.median(inits) / statistics.median(version)
    print(f"start-up ratio (mcp initialize / --version): {ratio:.2f}")


if __name__ == "__main__":
    main()
