"""Memory per live session in the aggregator's state: tracemalloc, RSS and what holds it.

Issue 15 (part 0): 100,000 live sessions took the aggregator to 613 MB RSS. Goal: 100,000
sessions on 2,000 hosts in one aggregator under 1 GB RSS, as low as is reasonable.

Method: one fresh child process per size and mode (``tune_gc()`` as ``sessionbeat aggregator``
does). The child first builds every payload, then an empty :class:`AggregatorState` and applies
the messages through the real ingest path (``state.apply``, the pydantic wire model): one host
birth per host, then ``--beats`` rounds of one beat per session, round-robin over the sessions
(statuses move between rounds, so each timeline holds a few changes). Payloads are what an agent
publishes: a ``SessionBeat`` encoded by the publisher's ``fit_beat`` (JSON without the None
fields), with realistic values (repositories from a set of 60, branches from 150, a few models,
Claude Code versions and entrypoints, cwd and transcript paths under a per-host home, a
per-session task and uuid4 session id, five timestamps). Figures per session:

* ``rss``: the child's RSS (psutil) after the apply minus before it, after ``gc.collect()``;
  the payloads, built before, stay alive throughout so they are not in the delta;
* ``traced``: tracemalloc's traced bytes after minus before (another child: tracing slows the
  apply ~3x and its own bookkeeping would be in the RSS);
* the breakdown: every object reachable from the state, counted once by identity (an object
  shared by many sessions, e.g. a cached string, counts once), ``sys.getsizeof`` each (the
  GC header included, allocator rounding not), grouped by what holds it.

``--speed`` times ``state.apply`` per message over the same messages instead (a fresh state
per round, five rounds, the minimum; no broker: the state's own cost, without paho's).

``--src DIR`` runs another tree's ``sessionbeat`` in the children (e.g. ``git archive <commit>
src | tar -x -C /tmp/base``, then ``--src /tmp/base/src``): the baseline in the same run.

Run: ``.venv/bin/python bench/bench_memory.py [--sessions 10000 100000] [--hosts 2000]
[--beats 3] [--src DIR] [--speed]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import psutil

REPOS = [f"{a}-{b}" for a in ("api", "web", "infra", "ml", "data", "tools") for b in range(10)]
BRANCHES = ["main", "develop"] + [f"feat/issue-{n}" for n in range(148)]
MODELS = ["claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5"]
VERSIONS = ["2.1.328", "2.1.327", "2.1.320"]
EVENTS = ["PreToolUse", "PostToolUse", "UserPromptSubmit", "Stop", "PermissionRequest"]
TOOLS = ["Bash", "Edit", "Read", "Write", "Grep", "Glob"]
VERBS = ["Fix", "Refactor", "Add tests for", "Document", "Speed up", "Review"]


def build_messages(sessions: int, hosts: int, beats: int) -> list[tuple[str, bytes]]:
    """Return the (topic, payload) pairs: host births, then ``beats`` rounds over the sessions.

    The values are drawn from a seeded generator, so every run (and the baseline) applies the
    same messages.
    """
    from sessionbeat import topics
    from sessionbeat.models import (
        MAX_PAYLOAD_BYTES,
        HostState,
        HostStatus,
        PublishedStatus,
        SessionBeat,
        StatusSource,
    )
    from sessionbeat.publisher.limits import fit_beat

    rng = random.Random(15)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    out: list[tuple[str, bytes]] = []
    for h in range(hosts):
        birth = HostStatus(host=f"host-{h:04d}", state=HostState.ONLINE, bdseq=1, sent_at=start)
        out.append((topics.status_topic(birth.host), birth.model_dump_json().encode()))
    facts: list[dict[str, Any]] = []
    for s in range(sessions):
        host = f"host-{s % hosts:04d}"
        sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        repo = rng.choice(REPOS)
        user = f"dev{s % hosts % 50}"
        facts.append(
            {
                "host": host,
                "session_id": sid,
                "started_at": start + timedelta(seconds=rng.randrange(3600)),
                "cwd": f"/home/{user}/src/{repo}",
                "repo": repo,
                "branch": rng.choice(BRANCHES),
                "transcript_path": f"/home/{user}/.claude/projects/-home-{user}-src-{repo}/"
                f"{sid}.jsonl",
                "task": f"{rng.choice(VERBS)} the {rng.choice(TOOLS).lower()} path of {repo} "
                f"(ticket {rng.randrange(100_000)})",
                "model": rng.choice(MODELS),
                "context_window": 200_000,
                "permission_mode": rng.choice(["default", "default", "acceptEdits", "plan"]),
                "pid": rng.randrange(1000, 4_000_000),
                "claude_version": rng.choice(VERSIONS),
                "entrypoint": "cli" if rng.random() < 0.8 else "sdk-cli",
                "tmux": f"main:@{rng.randrange(9)}.%{rng.randrange(40)}",
            }
        )
    statuses = [
        PublishedStatus.WORKING,
        PublishedStatus.NEEDS_APPROVAL,
        PublishedStatus.WORKING,
        PublishedStatus.WAITING_FOR_INPUT,
    ]
    for r in range(beats):
        at = start + timedelta(hours=1, seconds=10 * r)
        for s, fact in enumerate(facts):
            status = statuses[(r + s) % len(statuses)] if r else PublishedStatus.WORKING
            registry = s % 5 == 0
            beat = SessionBeat(
                **fact,
                status=status,
                seq=r + 1,
                bdseq=1,
                sent_at=at,
                last_activity_at=at - timedelta(seconds=s % 7),
                status_at=at - timedelta(seconds=s % 7),
                event=rng.choice(EVENTS),
                tool=rng.choice(TOOLS) if status is not PublishedStatus.WAITING_FOR_INPUT else None,
                context_tokens=rng.randrange(5_000, 190_000),
                subagents=rng.choice([0, 0, 0, 1, 2]),
                status_source=StatusSource.REGISTRY if registry else StatusSource.HOOK,
                registry_status="busy" if registry else None,
                registry_status_at=at - timedelta(seconds=1) if registry else None,
                waiting_for=(
                    "permission prompt" if status is PublishedStatus.NEEDS_APPROVAL else None
                ),
            )
            payload, _ = fit_beat(beat, MAX_PAYLOAD_BYTES)
            assert payload is not None
            out.append((topics.session_topic(beat.host, beat.session_id), payload))
    return out


def apply_all(messages: list[tuple[str, bytes]]) -> Any:
    """Apply every message to a fresh state through ``state.apply``; return the state."""
    from sessionbeat.aggregator.state import AggregatorState, Limits, Message, Outcome, apply

    state = AggregatorState(limits=Limits(max_sessions_per_host=1_000_000))
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for i, (topic, payload) in enumerate(messages):
        result = apply(state, Message(topic, payload), now + timedelta(microseconds=i))
        assert result.outcome is Outcome.ACCEPTED, result
    return state


def breakdown(state: Any) -> Counter[str]:
    """Return bytes by what holds them, every object reachable from the sessions counted once.

    ``sys.getsizeof`` of each object (GC header included); an object reachable twice (a
    string shared by many beats, the ``now`` shared by a record and its timeline) is counted
    the first time only, under the first holder met.
    """
    seen: set[int] = set()
    sizes: Counter[str] = Counter()

    def add(obj: object, what: str) -> bool:
        if obj is None or isinstance(obj, (bool, Enum)) or id(obj) in seen:
            return False
        seen.add(id(obj))
        sizes[what] += sys.getsizeof(obj)
        return True

    def value(obj: object, what: str) -> None:
        if isinstance(obj, datetime):
            if add(obj, f"{what}: datetimes"):
                add(obj.tzinfo, f"{what}: datetimes' tzinfo")
        elif isinstance(obj, str):
            add(obj, f"{what}: strings")
        elif isinstance(obj, int):
            add(obj, f"{what}: ints")
        elif obj is not None and not isinstance(obj, Enum):
            add(obj, f"{what}: other")

    add(state.sessions, "state: sessions dict")
    add(state.topic_keys, "state: topic_keys dict")
    for topic in state.topic_keys:
        add(topic, "state: topic_keys strings")
    for key, record in state.sessions.items():
        if add(key, "state: key tuples"):
            add(key[0], "state: key strings")
            add(key[1], "state: key strings")
        add(record, "record: SessionRecord")
        for name in ("received_at", "last_seen", "status_since"):
            value(getattr(record, name), "record")
        if record.accepted is not None:
            add(record.accepted, "record: Applied")
        add(record.timeline, "timeline: container")
        for change in record.timeline:
            add(change, "timeline: Change tuples")
            value(change.at, "timeline")
            value(change.event, "timeline")
        beat = record.beat
        add(beat, "beat: SessionBeat instance")
        add(beat.__dict__, "beat: __dict__")
        add(beat.__pydantic_fields_set__, "beat: __pydantic_fields_set__")
        add(beat.__pydantic_extra__, "beat: __pydantic_extra__")
        add(beat.__pydantic_private__, "beat: __pydantic_private__")
        for name, field_value in beat.__dict__.items():
            value(field_value, f"beat {name}" if isinstance(field_value, str) else "beat")
        for field_value in (beat.__pydantic_extra__ or {}).values():
            value(field_value, "beat extras")
    return sizes


def child(sessions: int, hosts: int, beats: int, mode: str) -> dict[str, Any]:
    """Build the messages, measure the apply in this process; return the figures."""
    import sessionbeat
    from sessionbeat.aggregator.gc_tuning import tune_gc

    messages = build_messages(sessions, hosts, beats)
    tune_gc()
    gc.collect()
    process = psutil.Process()
    figures: dict[str, Any] = {"sessionbeat": str(Path(sessionbeat.__file__).parent)}
    if mode == "speed":
        times = []
        for _ in range(5):
            gc.collect()
            start = time.perf_counter()
            state = apply_all(messages)
            times.append((time.perf_counter() - start) / len(messages))
            del state
        figures["apply_us"] = [t * 1e6 for t in times]
        state = apply_all(messages)
    elif mode == "traced":
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        state = apply_all(messages)
        gc.collect()
        figures["traced"] = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    else:
        rss = process.memory_info().rss
        state = apply_all(messages)
        gc.collect()
        figures["rss"] = process.memory_info().rss - rss
        figures["rss_total"] = process.memory_info().rss
        figures["breakdown"] = dict(breakdown(state))
    figures["sessions"] = len(state.sessions)
    figures["timeline"] = sum(len(r.timeline) for r in state.sessions.values()) / max(
        1, len(state.sessions)
    )
    return figures


def run_child(args: argparse.Namespace, sessions: int, mode: str) -> dict[str, Any]:
    """Run :func:`child` in a fresh interpreter (with ``--src`` first on its path)."""
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = str(Path(args.src).resolve())
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--sessions",
        str(sessions),
        "--hosts",
        str(args.hosts),
        "--beats",
        str(args.beats),
    ]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def report(sessions: int, rss: dict[str, Any], traced: dict[str, Any]) -> None:
    """Print one size's figures: per session by RSS, tracemalloc and the breakdown."""
    n = rss["sessions"]
    parts: dict[str, int] = rss["breakdown"]
    total = sum(parts.values())
    print(f"\n== {sessions} sessions (code: {rss['sessionbeat']})")
    print(f"timeline changes per session  {rss['timeline']:.2f}")
    delta = rss["rss"]
    print(f"RSS delta                     {delta / 2**20:8.1f} MiB  {delta / n:7.0f} B/session")
    print(f"RSS of the process after      {rss['rss_total'] / 2**20:8.1f} MiB")
    print(
        f"tracemalloc delta             {traced['traced'] / 2**20:8.1f} MiB"
        f"  {traced['traced'] / n:7.0f} B/session"
    )
    print(f"reachable (getsizeof)         {total / 2**20:8.1f} MiB  {total / n:7.0f} B/session")
    for what, size in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {what:40s} {size / n:7.1f} B/session")


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments; as parent, run the children per size and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--beats", type=int, default=3, help="beats per session")
    parser.add_argument("--src", help="run this tree's sessionbeat (a src/ directory)")
    parser.add_argument(
        "--speed", action="store_true", help="time state.apply per message instead (5 rounds)"
    )
    parser.add_argument("--child", choices=["rss", "traced", "speed"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = child(args.sessions[0], args.hosts, args.beats, args.child)
        print(json.dumps(figures))
        return 0
    if args.speed:
        for sessions in args.sessions:
            apply_us = run_child(args, sessions, "speed")["apply_us"]
            rounds = ", ".join(f"{t:.2f}" for t in apply_us)
            print(f"{sessions} sessions: state.apply {min(apply_us):.2f} us/message min ({rounds})")
        return 0
    for sessions in args.sessions:
        rss = run_child(args, sessions, "rss")
        traced = run_child(args, sessions, "traced")
        report(sessions, rss, traced)
    return 0


if __name__ == "__main__":
    sys.exit(main())
