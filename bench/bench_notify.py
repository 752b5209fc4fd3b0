"""Benchmark notifications: hook -> push latency after the grace period, and ingest's cost.

Usage: .venv/bin/python bench/bench_notify.py [--runs 20] [--grace 5] [--messages 50000]
[--rounds 3]

1. **Latency** (goal, issue 13: p95 under 1 s after the grace period). A real Mosquitto, a real
   agent and a real ``sessionbeat aggregator`` whose ``SESSIONBEAT_NOTIFY_URLS`` points Apprise's
   ``json://`` plugin at a local HTTP receiver. Each run starts the real ``sessionbeat publish``
   with a real PermissionRequest payload (a new session each time, runs 1.5 s apart so that no
   two share a batch) and takes the time until the receiver gets the POST. Reported: p50, p95,
   max of that time minus the grace period.
2. **Ingest with the notifier on** (it must not slow ingest). bench_ingest.py's method: the
   same N beats (a third of them ``needs_approval``, so episodes open and close all the time)
   drained from the broker by the aggregator's own client, alternately without and with a
   notifier attached to the change feed (default policy, a receiver answering 200). Reported:
   both medians and their ratio, measured in the same run. ``--steady`` keeps every session's
   status (a flood of heartbeats, as at a cold start) instead of the default worst case where
   a third of the beats flip a session to ``needs_approval``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.notifier.receiver import Receiver  # noqa: E402
from tests.procs import SCRIPT, Agent, Aggregator, wait_until  # noqa: E402

from bench_ingest import drain, payloads  # noqa: E402
from sessionbeat.aggregator.gc_tuning import tune_gc  # noqa: E402
from sessionbeat.aggregator.service import AggregatorService  # noqa: E402
from sessionbeat.aggregator.views import SessionFilter  # noqa: E402
from sessionbeat.broker.embedded import LocalBroker  # noqa: E402
from sessionbeat.notifier.service import Notifier  # noqa: E402
from sessionbeat.settings import Settings, load_settings  # noqa: E402

FIXTURE = (
    ROOT / "tests" / "fixtures" / "claude-code" / "real-2.1.328" / "hook-PermissionRequest-1.json"
)


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of ``values`` (inclusive method)."""
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def payload(session_id: str) -> bytes:
    """Return the real PermissionRequest with another session id, as compact JSON."""
    data = json.loads(FIXTURE.read_text())
    data["session_id"] = session_id
    return json.dumps(data, separators=(",", ":")).encode()


def latency(runs: int, grace: float, tmp: Path, broker: LocalBroker) -> list[float]:
    """Return, per run, seconds from starting the hook to the receiver's POST, minus grace."""
    out: list[float] = []
    with Receiver() as receiver:
        aggregator = Aggregator(
            broker.url,
            tmp / "aggregator",
            SESSIONBEAT_NOTIFY_URLS=f"json://127.0.0.1:{receiver.port}/hook",
            SESSIONBEAT_NOTIFY_GRACE=str(grace),
            SESSIONBEAT_LOG_LEVEL="WARNING",
        )
        agent = Agent(broker.url, tmp / "agent", "bench-notify", SESSIONBEAT_LOG_LEVEL="WARNING")
        try:
            wait_until(lambda: aggregator.get("/healthz")["broker_connected"], 20)
            starts: list[float] = []
            for _ in range(runs):
                starts.append(time.time())
                subprocess.run(
                    [SCRIPT, "publish"], input=payload(str(uuid.uuid4())), env=agent.env, check=True
                )
                time.sleep(1.5)
            got = receiver.wait_for(runs, "POST", "/hook", timeout=grace + 60)
            arrivals = sorted(r.at for r in got)
            out = [arrived - start - grace for start, arrived in zip(starts, arrivals, strict=True)]
        finally:
            agent.stop()
            aggregator.stop()
    return out


def ingest_round(settings: Settings, messages: list[tuple[str, bytes]], notify: bool) -> float:
    """Time the aggregator's ingest of ``messages``, with or without a notifier attached."""
    service = AggregatorService(settings)
    notifier = None
    if notify:
        notifier = Notifier(
            settings, service.render_changes, lambda: service.sessions(SessionFilter(all=True))
        )
        service.feed.attach(notifier)
        notifier.start()
    handler = service.link.client.on_message
    assert handler is not None
    try:
        elapsed = drain(service.link.client, settings, messages, handler)
    finally:
        if notifier is not None:
            notifier.stop()
    assert service.state.counters.accepted == len(messages)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument(
        "--steady",
        action="store_true",
        help="beats keep their status (heartbeats); default: a third flip to needs_approval",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_latency:
            with LocalBroker(tmp / "broker-latency") as broker:
                lat = latency(args.runs, args.grace, tmp, broker)
            ms = [x * 1000 for x in lat]
            print(f"hook -> push, minus grace {args.grace:g} s, {len(lat)} runs:")
            print(
                f"  p50 {statistics.median(ms):7.0f} ms   p95 {pct(ms, 0.95):7.0f} ms"
                f"   max {max(ms):7.0f} ms   (goal: p95 < 1000 ms)"
            )
        messages = payloads(args.messages)
        if args.steady:
            messages = [(t, p.replace(b'"needs_approval"', b'"working"')) for t, p in messages]
        tune_gc()
        with Receiver() as receiver, LocalBroker(tmp / "broker-ingest") as broker:
            settings = load_settings(
                broker_url=broker.url,
                history_db=tmp / "history.sqlite3",
                notify_urls=f"json://127.0.0.1:{receiver.port}/hook",
            )
            off: list[float] = []
            on: list[float] = []
            for _ in range(args.rounds):
                gc.collect()
                off.append(ingest_round(settings, messages, notify=False))
                gc.collect()
                on.append(ingest_round(settings, messages, notify=True))
    n = len(messages)
    off_rate, on_rate = n / statistics.median(off), n / statistics.median(on)
    print(f"ingest, notifier off {off_rate:10.0f} msg/s  (rounds: {_fmt(off)})")
    print(f"ingest, notifier on  {on_rate:10.0f} msg/s  (rounds: {_fmt(on)})")
    print(f"ratio on/off         {on_rate / off_rate:10.2f}")
    return 0


def _fmt(times: list[float]) -> str:
    return ", ".join(f"{t:.3f} s" for t in times)


if __name__ == "__main__":
    sys.exit(main())
