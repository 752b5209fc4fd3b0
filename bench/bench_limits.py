"""A session flood from one host: the aggregator's memory with and without the per-host limit.

Issue 12 (item 5): any host may create sessions in its own subtree; 100,000 retained beats took
an aggregator from 69 to 613 MB. ``max_sessions_per_host`` (default 500) caps what one host
holds. This loads a real Mosquitto (``src/sessionbeat/broker/local.conf``) with N retained
beats of one host (QoS 1, Message Expiry 1800 s, every PUBACK awaited), then starts a fresh
aggregator process per setting (``AggregatorService``, the real ingest path, ``tune_gc()`` as
``sessionbeat aggregator`` does) and reports its resident set size (psutil RSS) before the
start and once every retained message has been received, the sessions it holds and the beats
it refused. The "unlimited" round sets the limit above N: the code before the limit.

Run: ``.venv/bin/python bench/bench_limits.py [--sessions 100000] [--limit 500]``
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from sessionbeat import topics
from sessionbeat.broker.client import make_client, publish_properties
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import PublishedStatus, SessionBeat
from sessionbeat.settings import Settings, load_settings

HOST = "flood"
BATCH = 20_000
"""Publishes awaited at a time while loading the broker."""


def load_retained(settings: Settings, n: int) -> None:
    """Publish ``n`` retained beats of one host (QoS 1, expiry 1800 s); wait for every PUBACK."""
    now = datetime.now(UTC)
    pub = make_client(f"bench-flood-{uuid.uuid4().hex[:6]}", settings.broker)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect(settings.broker.host, settings.broker.port)
    pub.loop_start()
    infos = []
    for i in range(n):
        sid = str(uuid.UUID(int=i))
        beat = SessionBeat(
            host=HOST,
            session_id=sid,
            status=PublishedStatus.WORKING,
            bdseq=1,
            seq=1,
            sent_at=now,
            started_at=now,
            last_activity_at=now,
            event="PreToolUse",
            cwd=f"/home/mallory/src/project-{i}",
            repo=f"project-{i % 37}",
            branch="main",
            model="claude-opus-4-1",
            context_tokens=40_000,
            context_window=200_000,
            pid=10_000 + i,
        )
        infos.append(
            pub.publish(
                topics.session_topic(HOST, sid),
                beat.model_dump_json(exclude_none=True).encode(),
                qos=1,
                retain=True,
                properties=publish_properties(1800),
            )
        )
        if len(infos) == BATCH:  # paho's packet ids wrap at 65,535 outstanding messages
            for info in infos:
                info.wait_for_publish(300)
            infos = []
    for info in infos:
        info.wait_for_publish(300)
    pub.disconnect()
    pub.loop_stop()


def child(broker_url: str, limit: int, expect: int, history: Path) -> dict[str, Any]:
    """In a fresh process: start an aggregator, wait for every retained message, measure RSS."""
    from sessionbeat.aggregator.gc_tuning import tune_gc
    from sessionbeat.aggregator.service import AggregatorService

    tune_gc()
    settings = load_settings(broker_url=broker_url, history_db=history, max_sessions_per_host=limit)
    service = AggregatorService(settings)
    process = psutil.Process()
    before = process.memory_info().rss
    ingest = service.link.client.on_message
    assert ingest is not None
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        ingest(client, userdata, msg)
        if service.state.counters.received >= expect:
            done.set()

    service.link.client.on_message = on_message
    start = time.perf_counter()
    service.start()
    if not done.wait(600):
        raise SystemExit(f"received only {service.state.counters.received} of {expect}")
    elapsed = time.perf_counter() - start
    gc.collect()
    after = process.memory_info().rss
    counters = service.snapshot().counters
    service.stop()
    return {
        "limit": limit,
        "sessions": len(service.state.sessions),
        "refused": sum(counters.rejected.values()),
        "rss_before_mb": before / 2**20,
        "rss_after_mb": after / 2**20,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    """Load the broker once, then run one aggregator process per limit and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker-url", help=argparse.SUPPRESS)
    parser.add_argument("--history", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(child(args.broker_url, args.limit, args.sessions, args.history)))
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp,
        LocalBroker(Path(tmp) / "broker") as broker,
    ):
        settings = load_settings(broker_url=broker.url)
        load_retained(settings, args.sessions)
        rows = []
        for i, limit in enumerate((args.limit, args.sessions + 1)):
            command = [sys.executable, __file__, "--child", "--broker-url", broker.url]
            command += ["--sessions", str(args.sessions), "--limit", str(limit)]
            command += ["--history", str(Path(tmp) / f"history-{i}.sqlite3")]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out))
    print(f"{args.sessions} retained beats of one host")
    print("limit      sessions  refused  RSS before  RSS after  received in")
    for row in rows:
        limit = "unlimited" if row["limit"] > args.sessions else str(row["limit"])
        rss = f"{row['rss_before_mb']:>8.0f} MB {row['rss_after_mb']:>7.0f} MB"
        print(
            f"{limit:<10} {row['sessions']:>8} {row['refused']:>8} {rss} {row['seconds']:>8.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
