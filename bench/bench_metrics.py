"""Cost of a Prometheus scrape (GET /metrics) with 10,000 live sessions over 200 hosts.

Method: a real Mosquitto (``src/sessionbeat/broker/local.conf``) and a real
``sessionbeat aggregator``
process on free loopback ports. 200 host births and 10,000 SessionBeat payloads (50 sessions
per host over 5 repositories each, a mix of statuses, context usage and subagents) are published
live; once ``/summary`` counts them all, one keep-alive HTTP client alternates ``GET /metrics``
and the baseline ``GET /healthz`` of the same server (same uvicorn, same routing; /healthz
does no work), ``--requests`` times each. Reported: median and p95 milliseconds per request,
response bytes, and the ratio metrics/healthz of the medians.

Then, in this process, for each ``--core`` size (default 10,000 sessions on 200 hosts and
100,000 on 2,000, 50 sessions and 5 repositories per host), the beats go through the pure core
(``apply``) and one scrape is split into its parts: ``take_snapshot`` (done under the
aggregator's lock), the whole scrape in the classic text format (``generate_latest``, snapshot
included), the same as OpenMetrics, and gzip (level 1, what ``/metrics`` does when the scraper
accepts it) of the text. Baselines of the same run: ``generate_latest`` of a registry with
client_python's default process and platform collectors, and a bare copy of the session
records (``list(state.sessions.values())``), the least any snapshot under the lock costs.
Figures are also given as ratios to those baselines, as the machine's load varies.

Run: ``.venv/bin/python bench/bench_metrics.py [--hosts 200] [--sessions 10000]
[--requests 50] [--core 200:10000,2000:100000] [--skip-http]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from sessionbeat import topics
from sessionbeat.aggregator.snapshot import take_snapshot
from sessionbeat.aggregator.state import AggregatorState, Message, apply
from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.exporter.collector import SessionbeatCollector

STATUSES = ["working", "working", "waiting_for_input", "needs_approval", "working", "ended"]
EVENTS = {
    "working": "PreToolUse",
    "waiting_for_input": "Stop",
    "needs_approval": "PermissionRequest",
    "ended": "SessionEnd",
}


def messages(hosts: int, sessions: int) -> list[tuple[str, bytes]]:
    """Return host births then ``sessions`` beats spread evenly over ``hosts`` hosts."""
    now = datetime.now(UTC)
    out = []
    for h in range(hosts):
        host = f"host-{h:03d}"
        birth = {"v": 1, "host": host, "state": "online", "bdseq": 1, "sent_at": now.isoformat()}
        out.append((topics.status_topic(host), json.dumps(birth).encode()))
    for i in range(sessions):
        host = f"host-{i % hosts:03d}"
        sid = str(uuid.UUID(int=i + 1))
        status = STATUSES[i % len(STATUSES)]
        repo = f"repo-{(i % hosts * 3 + i // hosts % 5) % 40}"  # 5 repositories per host
        beat = {
            "v": 1,
            "host": host,
            "session_id": sid,
            "status": status,
            "seq": 1,
            "sent_at": (now + timedelta(microseconds=i)).isoformat(),
            "started_at": now.isoformat(),
            "last_activity_at": now.isoformat(),
            "event": EVENTS[status],
            "cwd": f"/home/dev/{repo}",
            "repo": repo,
            "branch": "main",
            "tool": "Bash",
            "model": "claude-opus-4-6",
            "context_tokens": (i * 7919) % 200_000,
            "context_window": 200_000,
            "subagents": i % 3,
            "pid": 10_000 + i,
        }
        out.append((topics.session_topic(host, sid), json.dumps(beat).encode()))
    return out


def publish_all(port: int, batch: list[tuple[str, bytes]]) -> None:
    """Publish every message with QoS 1 and wait for the last acknowledgement."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="bench-metrics",
        protocol=mqtt.MQTTv5,
    )
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in batch]
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    """Run ``fn`` ``n`` times; return each run's wall time in milliseconds."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(name: str, ms: list[float], size: int) -> str:
    """Format one measurement: median and p95 milliseconds, response bytes."""
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 20 else max(ms)
    return f"{name:<34} median {statistics.median(ms):8.2f} ms  p95 {p95:8.2f} ms  {size:>9,} B"


def http_part(hosts: int, sessions: int, requests: int, batch: list[tuple[str, bytes]]) -> None:
    """Real broker + real aggregator process: GET /metrics vs GET /healthz."""
    with (
        tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp,
        LocalBroker(Path(tmp) / "broker") as broker,
    ):
        port = free_port()
        env = dict(
            os.environ,
            SESSIONBEAT_BROKER_URL=broker.url,
            SESSIONBEAT_STATE_DIR=str(Path(tmp) / "state"),
        )
        env.pop("SESSIONBEAT_API_TOKEN", None)
        agg = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "sessionbeat"),
                "aggregator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=30) as http:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if http.get("/healthz").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("aggregator did not become healthy")
                    time.sleep(0.1)
                publish_all(broker.port, batch)
                while len(http.get("/sessions", params={"all": "true"}).json()) < sessions:
                    if time.monotonic() > deadline + 120:
                        raise SystemExit("aggregator did not receive every session")
                    time.sleep(0.2)
                metrics_ms: list[float] = []
                health_ms: list[float] = []
                for _ in range(requests):  # alternate, so both see the same machine load
                    metrics_ms += timed(lambda: http.get("/metrics").raise_for_status(), 1)
                    health_ms += timed(lambda: http.get("/healthz").raise_for_status(), 1)
                metrics = http.get("/metrics")
                health = http.get("/healthz")
        finally:
            agg.terminate()
            agg.wait(30)
    series = sum(1 for line in metrics.text.splitlines() if line and not line.startswith("#"))
    print(f"HTTP, real aggregator ({hosts} hosts, {sessions:,} sessions, {series:,} samples):")
    print(summary("GET /metrics", metrics_ms, len(metrics.content)))
    print(summary("GET /healthz (baseline)", health_ms, len(health.content)))
    ratio = statistics.median(metrics_ms) / statistics.median(health_ms)
    print(f"{'ratio /metrics : /healthz':<34} {ratio:8.1f} x")


def core_part(hosts: int, sessions: int, requests: int) -> None:
    """In process: snapshot and exposition of the collector vs two baselines of the same run."""
    state = AggregatorState()
    now = datetime.now(UTC)
    for topic, payload in messages(hosts, sessions):
        apply(state, Message(topic, payload), now)
    assert len(state.sessions) == sessions
    registry = CollectorRegistry()
    registry.register(SessionbeatCollector(lambda: take_snapshot(state, now, True)))
    baseline = CollectorRegistry()
    ProcessCollector(registry=baseline)
    PlatformCollector(registry=baseline)
    text = generate_latest(registry)
    om = openmetrics_latest(registry)
    packed = gzip.compress(text, compresslevel=1)
    snap_ms = timed(lambda: take_snapshot(state, now, True), requests)
    copy_ms = timed(lambda: list(state.sessions.values()), requests)
    ours_ms = timed(lambda: generate_latest(registry), requests)
    om_ms = timed(lambda: openmetrics_latest(registry), requests)
    gzip_ms = timed(lambda: gzip.compress(text, compresslevel=1), requests)
    base_ms = timed(lambda: generate_latest(baseline), requests)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(f"In process ({hosts:,} hosts, {sessions:,} sessions, {samples:,} samples):")
    print(summary("take_snapshot (under the lock)", snap_ms, 0))
    print(summary("copy of the records (baseline)", copy_ms, 0))
    print(summary("scrape, classic text", ours_ms, len(text)))
    print(summary("scrape, OpenMetrics", om_ms, len(om)))
    print(summary("gzip -1 of the text", gzip_ms, len(packed)))
    print(summary("process+platform (baseline)", base_ms, len(generate_latest(baseline))))
    med = statistics.median
    print(f"{'snapshot : record copy':<34} {med(snap_ms) / med(copy_ms):8.1f} x")
    print(f"{'scrape : process+platform':<34} {med(ours_ms) / med(base_ms):8.0f} x")
    print(f"{'share of the scrape under the lock':<34} {med(snap_ms) / med(ours_ms):8.1%}")


def main() -> None:
    """Parse the options, run both parts, print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--core", default="200:10000,2000:100000", help="hosts:sessions,...")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process part")
    args = parser.parse_args()
    if not args.skip_http:
        http_part(args.hosts, args.sessions, args.requests, messages(args.hosts, args.sessions))
    for size in args.core.split(","):
        hosts, sessions = (int(n) for n in size.split(":"))
        core_part(
            hosts, sessions, max(5, args.requests // 5 if sessions > 20_000 else args.requests)
        )


if __name__ == "__main__":
    main()
