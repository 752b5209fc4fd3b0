"""Aggregator ingest rate vs a bare paho subscriber, on the same broker, in the same run.

Bar (docs/architecture.md, "Performance bars"): the aggregator's ingest path handles at least
75 % of the raw paho receive rate.

Method: a real Mosquitto (``src/sessionbeat/broker/local.conf``) on a free port. For each round, a
subscriber connects and subscribes to ``sessionbeat/v1/#`` with QoS 0, then *stops reading*;
a publisher sends N SessionBeat payloads (about 600 bytes each, 500 sessions on 10 hosts, seq
increasing so every one is accepted) and a QoS 1 marker, so the broker holds all N for the
subscriber. Then the subscriber's network loop starts and the clock runs until its N-th
``on_message``. The baseline subscriber only counts; the aggregator's is the real
``AggregatorService`` client whose ``on_message`` parses, validates and applies each message
under the state lock. Rounds alternate baseline/aggregator, each after a full garbage
collection; medians are compared.

Run: ``.venv/bin/python bench/bench_ingest.py [--messages 50000] [--rounds 3] [--profile]``
(``--profile`` adds one aggregator round under cProfile, in paho's thread, and prints it).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import logging
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from sessionbeat import topics
from sessionbeat.aggregator.gc_tuning import tune_gc
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.broker.client import make_client
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import PublishedStatus, SessionBeat
from sessionbeat.settings import Settings, load_settings

BAR = 0.75


def payloads(n: int, sessions: int = 500, hosts: int = 10) -> list[tuple[str, bytes]]:
    """Return ``n`` (topic, payload) pairs of realistic beats, round-robin over sessions."""
    start = datetime.now(UTC)
    out = []
    for i in range(n):
        s = i % sessions
        host = f"host{s % hosts}"
        sid = f"{uuid.UUID(int=s)}"
        beat = SessionBeat(
            host=host,
            session_id=sid,
            status=PublishedStatus.WORKING if i % 3 else PublishedStatus.NEEDS_APPROVAL,
            seq=i,
            sent_at=start + timedelta(microseconds=i),
            started_at=start,
            last_activity_at=start + timedelta(microseconds=i),
            event="PreToolUse",
            cwd=f"/home/kai/src/project-{s}",
            repo=f"project-{s % 37}",
            branch="main",
            transcript_path=f"/home/kai/.claude/projects/p{s}/{sid}.jsonl",
            tool="Bash",
            task="Run the test suite and fix what fails",
            model="claude-opus-4-1",
            context_tokens=40_000 + i % 1000,
            context_window=200_000,
            subagents=i % 3,
            permission_mode="default",
            pid=10_000 + s,
        )
        out.append(
            (topics.session_topic(host, sid), beat.model_dump_json(exclude_none=True).encode())
        )
    return out


def publish_all(settings: Settings, messages: list[tuple[str, bytes]]) -> None:
    """Publish every message with QoS 0, then a QoS 1 marker, and wait for its PUBACK."""
    pub = make_client(f"bench-pub-{uuid.uuid4().hex[:6]}", settings.broker)
    pub.connect(settings.broker.host, settings.broker.port)
    pub.loop_start()
    for topic, payload in messages:
        pub.publish(topic, payload, qos=0)
    pub.publish("bench/marker", b"done", qos=1).wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()


def _subscribed(client: mqtt.Client) -> None:
    """Run the client's loop by hand until its subscription is acknowledged."""
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    while not done.is_set():
        client.loop(0.05)


def drain(
    client: mqtt.Client,
    settings: Settings,
    messages: list[tuple[str, bytes]],
    handler: Callable[[Any, Any, Any], None],
) -> float:
    """Connect ``client``, subscribe, let the broker queue ``messages``, then time the drain.

    Returns the seconds from starting the network loop to the last message's ``on_message``.
    """
    n = len(messages)
    count = 0
    done = threading.Event()

    def on_message(c: Any, userdata: Any, msg: Any) -> None:
        nonlocal count
        handler(c, userdata, msg)
        count += 1
        if count == n:
            done.set()

    client.on_message = on_message
    client.connect(settings.broker.host, settings.broker.port, keepalive=120)
    _subscribed(client)
    publish_all(settings, messages)
    start = time.perf_counter()
    client.loop_start()
    if not done.wait(300):
        raise SystemExit(f"only {count} of {n} messages arrived")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


def raw_round(settings: Settings, messages: list[tuple[str, bytes]]) -> float:
    """Time a bare paho subscriber (counting only)."""
    client = make_client(f"bench-raw-{uuid.uuid4().hex[:6]}", settings.broker)
    client.on_connect = lambda c, *a: c.subscribe(topics.SUBSCRIBE_ALL, qos=0)
    return drain(client, settings, messages, lambda c, u, m: None)


def service_round(
    settings: Settings, messages: list[tuple[str, bytes]], profile: bool = False
) -> float:
    """Time the aggregator's own client and ingest path (a fresh, empty state each round).

    With ``profile``, cProfile runs in paho's network thread for the round and the top
    functions by own time are printed (the timing is then not comparable).
    """
    service = AggregatorService(settings)
    handler = service.link.client.on_message
    assert handler is not None
    if profile:
        profiler = cProfile.Profile()
        seen = 0

        def profiled(c: Any, u: Any, m: Any) -> None:
            nonlocal seen
            if seen == 0:
                profiler.enable()  # in this (paho's) thread
            handler(c, u, m)
            seen += 1
            if seen == len(messages):
                profiler.disable()

        elapsed = drain(service.link.client, settings, messages, profiled)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    else:
        elapsed = drain(service.link.client, settings, messages, handler)
    assert service.state.counters.accepted == len(messages), service.state.counters
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the rates and the ratio; exit 1 if the bar is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one aggregator round")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # each round disconnects the client directly
    messages = payloads(args.messages)
    tune_gc()  # as the `sessionbeat aggregator` process does; applies to both sides
    with (
        tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp,
        LocalBroker(Path(tmp) / "broker") as broker,
    ):
        settings = load_settings(broker_url=broker.url, history_db=Path(tmp) / "history.sqlite3")
        raw: list[float] = []
        agg: list[float] = []
        for _ in range(args.rounds):
            gc.collect()  # earlier rounds' clients are garbage in reference cycles
            raw.append(raw_round(settings, messages))
            gc.collect()
            agg.append(service_round(settings, messages))
        if args.profile:
            service_round(settings, messages, profile=True)
    n = len(messages)
    raw_rate = n / statistics.median(raw)
    agg_rate = n / statistics.median(agg)
    ratio = agg_rate / raw_rate
    print(f"messages per round   {n}")
    print(f"raw paho subscriber  {raw_rate:10.0f} msg/s  (rounds: {_fmt(raw)})")
    print(f"aggregator ingest    {agg_rate:10.0f} msg/s  (rounds: {_fmt(agg)})")
    verdict = "ok" if ratio >= BAR else "MISSED"
    print(f"ratio                {ratio:10.2f}   (bar >= {BAR:.2f}: {verdict})")
    return 0 if ratio >= BAR else 1


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.3f} s" for t in times)


if __name__ == "__main__":
    sys.exit(main())
