"""Cold start: the aggregator rebuilding 10,000 retained sessions vs a bare paho subscriber.

Bar (docs/architecture.md, "Performance bars"): the aggregator's state holds every retained
session in less than 2 x the time a bare paho subscriber needs to receive them, in the same run.

Method: a real Mosquitto (``src/sessionbeat/broker/local.conf``) on a free port is loaded once
with N
retained SessionBeats (QoS 1, every PUBACK awaited). Each round then times, from the first call
to the first received message of interest:

* baseline: a bare paho MQTT 5 client (the same ``sessionbeat.broker.client.make_client`` settings)
  that connects, subscribes to ``sessionbeat/v1/#`` with QoS 0 and counts messages until N;
* aggregator: ``AggregatorService.start()`` (history opened, broker connected, subscription in
  ``on_connect``, the real ingest path) until its state holds N sessions.

Rounds alternate, each after a full garbage collection (an earlier round's service is garbage
in reference cycles; a real aggregator has no such predecessor); medians are compared.

Run: ``.venv/bin/python bench/bench_cold_start.py [--sessions 10000] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import gc
import logging
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sessionbeat import topics
from sessionbeat.aggregator.gc_tuning import tune_gc
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.broker.client import make_client
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import PublishedStatus, SessionBeat
from sessionbeat.settings import Settings, load_settings

BAR = 2.0


def load_retained(settings: Settings, n: int, hosts: int = 20) -> None:
    """Publish ``n`` retained beats (QoS 1) over ``hosts`` hosts and wait for every PUBACK.

    Past 10,000 sessions the hosts grow to 50 sessions each (a host may hold 500).
    """
    if n > 10_000:
        hosts = max(hosts, n // 50)
    now = datetime.now(UTC)
    pub = make_client(f"bench-load-{uuid.uuid4().hex[:6]}", settings.broker)
    pub.max_inflight_messages_set(1000)
    pub.connect(settings.broker.host, settings.broker.port)
    pub.loop_start()
    infos = []
    for i in range(n):
        host, sid = f"host{i % hosts}", str(uuid.UUID(int=i))
        beat = SessionBeat(
            host=host,
            session_id=sid,
            status=PublishedStatus.WAITING_FOR_INPUT,
            seq=i,
            sent_at=now,
            started_at=now,
            last_activity_at=now,
            event="Stop",
            cwd=f"/home/kai/src/project-{i}",
            repo=f"project-{i % 37}",
            branch="main",
            model="claude-opus-4-1",
            context_tokens=40_000,
            context_window=200_000,
            pid=10_000 + i,
        )
        if len(infos) >= 5000:  # paho's queue is bounded: wait for a batch's PUBACKs
            for info in infos:
                info.wait_for_publish(120)
            infos.clear()
        infos.append(
            pub.publish(
                topics.session_topic(host, sid),
                beat.model_dump_json(exclude_none=True).encode(),
                qos=1,
                retain=True,
            )
        )
    for info in infos:
        info.wait_for_publish(120)
    pub.disconnect()
    pub.loop_stop()


def bare_round(settings: Settings, n: int) -> float:
    """Time a bare paho subscriber from connect to its n-th retained message."""
    count = 0
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal count
        count += 1
        if count == n:
            done.set()

    client = make_client(f"bench-bare-{uuid.uuid4().hex[:6]}", settings.broker)
    client.on_connect = lambda c, *a: c.subscribe(topics.SUBSCRIBE_ALL, qos=0)
    client.on_message = on_message
    start = time.perf_counter()
    client.connect(settings.broker.host, settings.broker.port)
    client.loop_start()
    if not done.wait(300):
        raise SystemExit(f"bare subscriber got only {count} of {n}")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


def service_round(settings: Settings, n: int) -> float:
    """Time ``AggregatorService.start()`` until its state holds n sessions."""
    service = AggregatorService(settings)
    ingest = service.link.client.on_message
    assert ingest is not None
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        ingest(client, userdata, msg)
        if len(service.state.sessions) >= n:
            done.set()

    service.link.client.on_message = on_message
    start = time.perf_counter()
    service.start()
    if not done.wait(300):
        raise SystemExit(f"aggregator rebuilt only {len(service.state.sessions)} of {n}")
    elapsed = time.perf_counter() - start
    service.stop()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print both times and the ratio; exit 1 if the bar is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    tune_gc()  # as the `sessionbeat aggregator` process does; applies to both sides
    with (
        tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp,
        LocalBroker(Path(tmp) / "broker") as broker,
    ):
        settings = load_settings(broker_url=broker.url, history_db=Path(tmp) / "history.sqlite3")
        load_retained(settings, args.sessions)
        bare: list[float] = []
        agg: list[float] = []
        for _ in range(args.rounds):
            gc.collect()  # earlier rounds' services are garbage in reference cycles
            bare.append(bare_round(settings, args.sessions))
            gc.collect()
            agg.append(service_round(settings, args.sessions))
    ratio = statistics.median(agg) / statistics.median(bare)
    print(f"retained sessions    {args.sessions}")
    print(f"bare paho subscriber {statistics.median(bare):8.3f} s  (rounds: {_fmt(bare)})")
    print(f"aggregator rebuild   {statistics.median(agg):8.3f} s  (rounds: {_fmt(agg)})")
    verdict = "ok" if ratio < BAR else "MISSED"
    print(f"ratio                {ratio:8.2f}    (bar < {BAR:.1f}: {verdict})")
    return 0 if ratio < BAR else 1


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.3f} s" for t in times)


if __name__ == "__main__":
    sys.exit(main())
