"""The aggregator's pure core and read side at fleet scale, in-process (no broker, no HTTP).

Issue 15 parts 0 and 1: work per message proportional to what it touches, answers that do not
grow with the fleet. Builds an ``AggregatorState`` of ``--sessions`` live sessions on
``--hosts`` hosts with the real ``apply`` (every host online, one session in a hundred awaiting
approval), then measures, on the aggregator's own clock advanced by hand:

* fill: ``apply`` of every session's first beat (msg/s);
* steady ingest: ``apply`` of live beats of existing sessions, round-robin (msg/s);
* a host status message: the host's Last Will then its birth (one host of ``--hosts``);
* an expire pass, once a simulated second for ``--passes`` seconds, while the fleet beats
  every 15 s (its steady rate between passes);
* ``GET /overview``'s body: build and serialise (uncached);
* ``GET /sessions?limit=100``'s body (the code before issue 15 had no paging: its whole list).

Runs against whatever ``sessionbeat`` the interpreter imports, so the same script measures
the code before the indices (e.g. ``/work/main/.venv/bin/python``) as a baseline: there,
``/overview`` is the old full overview and ``/sessions`` the whole list.

Run: ``.venv/bin/python bench/bench_core_scale.py [--sessions 10000] [--hosts 200]
[--reps 20] [--passes 20]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import psutil

from sessionbeat import topics
from sessionbeat.aggregator import views
from sessionbeat.aggregator.state import AggregatorState, Message, apply, expire
from sessionbeat.models import HostState, HostStatus, Overview, SessionBeat, utc_now

try:  # the code with the indices (issue 15)
    from sessionbeat.aggregator.overview import build_overview
    from sessionbeat.aggregator.reads import SESSION_LIST

    INDEXED = True
except ImportError:  # the code before: a walk of every session per answer
    INDEXED = False

BEAT_PERIOD = 15.0
"""Seconds between two beats of one session in the simulated fleet."""


def _beat(host: str, sid: str, seq: int, status: str, sent: object) -> bytes:
    return (
        SessionBeat.model_validate(
            {
                "host": host,
                "session_id": sid,
                "status": status,
                "seq": seq,
                "bdseq": 1,
                "sent_at": sent,
                "repo": f"repo{hash(sid) % 50}",
                "branch": "main",
                "cwd": f"/home/dev/{sid}",
                "model": "claude-opus-4",
                "context_tokens": 40000 + seq,
                "context_window": 200000,
                "tool": "Bash",
                "detail": "running the tests",
                "task": "fix the login flow",
                "status_source": "hook",
                "last_activity_at": sent,
                "event": "PreToolUse",
            }
        )
        .model_dump_json()
        .encode()
    )


def _pcts(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:8.3f} ms  p95 {p95 * 1000:8.3f} ms  (n={len(ordered)})"


def _time(fn: Callable[[], object], reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    """Run the measurements and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()
    n, hosts = args.sessions, args.hosts
    state = AggregatorState()
    now = utc_now()
    print(f"code: {'indexed' if INDEXED else 'before issue 15'}; {n} sessions, {hosts} hosts")
    keys = [(f"host{i % hosts:04d}", f"s{i:06d}") for i in range(n)]
    topic = {k: topics.session_topic(*k) for k in keys}
    rss0 = psutil.Process(os.getpid()).memory_info().rss
    for h in range(hosts):
        birth = HostStatus(host=f"host{h:04d}", state=HostState.ONLINE, bdseq=1, sent_at=now)
        apply(
            state, Message(topics.status_topic(birth.host), birth.model_dump_json().encode()), now
        )
    first = [
        Message(topic[k], _beat(*k, 1, "needs_approval" if i % 100 == 0 else "working", now))
        for i, k in enumerate(keys)
    ]
    gc.collect()
    t = time.perf_counter()
    for m in first:
        apply(state, m, now)
    fill = time.perf_counter() - t
    del first
    gc.collect()
    rss = psutil.Process(os.getpid()).memory_info().rss - rss0
    print(f"fill: {n / fill:10,.0f} msg/s   state RSS growth {rss / 2**20:7.1f} MB")

    steady_n = min(n, 50_000)
    live = [Message(topic[k], _beat(*k, 2, "working", now)) for k in keys[:steady_n]]
    now += timedelta(seconds=1)
    gc.collect()
    t = time.perf_counter()
    for m in live:
        apply(state, m, now)
    steady = time.perf_counter() - t
    del live
    print(f"steady ingest: {steady_n / steady:10,.0f} msg/s ({steady / steady_n * 1e6:.2f} us/msg)")

    host = "host0000"
    will = Message(
        topics.status_topic(host),
        HostStatus(host=host, state=HostState.OFFLINE, bdseq=1).model_dump_json().encode(),
    )
    birth = Message(
        topics.status_topic(host),
        HostStatus(host=host, state=HostState.ONLINE, bdseq=2, sent_at=now)
        .model_dump_json()
        .encode(),
    )
    host_times = []
    for i in range(args.reps):
        now += timedelta(milliseconds=10)
        t = time.perf_counter()
        apply(state, will if i % 2 == 0 else birth, now)
        host_times.append(time.perf_counter() - t)
    print(f"host status message ({n // hosts} sessions of {n}): {_pcts(host_times)}")

    per_second = max(1, round(n / BEAT_PERIOD))
    seq = 3
    cursor = 0
    pass_times = []
    for _ in range(args.passes):
        now += timedelta(seconds=1)
        batch = [keys[(cursor + j) % n] for j in range(per_second)]
        cursor += per_second
        for k in batch:
            apply(state, Message(topic[k], _beat(*k, seq, "working", now)), now)
        seq += 1
        t = time.perf_counter()
        expire(state, now)
        pass_times.append(time.perf_counter() - t)
    print(f"expire pass ({per_second} beats/s between): {_pcts(pass_times)}")

    if INDEXED:

        def overview() -> bytes:
            return Overview.__pydantic_serializer__.to_json(build_overview(state, now, True))

        def page() -> bytes:
            items, _page = views.sessions_page(state, now, views.SessionFilter(), limit=100)
            return SESSION_LIST.dump_json(items)
    else:

        def overview() -> bytes:
            return (
                Overview(
                    now=now,
                    summary=views.summarize(state, now, True),
                    sessions=views.list_sessions(state, now, views.SessionFilter(all=True)),
                    hosts=views.list_hosts(state, now),
                )
                .model_dump_json()
                .encode()
            )

        def page() -> bytes:
            from pydantic import TypeAdapter

            return TypeAdapter(list).dump_json(views.list_sessions(state, now))

    size = len(overview())
    print(f"/overview body ({size / 1024:.0f} KiB): {_pcts(_time(overview, args.reps))}")
    size = len(page())
    print(f"/sessions?limit=100 body ({size / 1024:.0f} KiB): {_pcts(_time(page, args.reps))}")


if __name__ == "__main__":
    main()
