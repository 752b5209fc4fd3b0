"""Benchmark offline detection: a host's agent killed, or frozen (network silently gone).

Usage: .venv/bin/python bench/bench_liveness.py [--kills 10] [--freezes 3] [--keepalive 5]

For each trial a real agent (MQTT keepalive ``--keepalive`` s) publishes one session; then it
is killed with SIGKILL, or frozen with SIGSTOP. Measured from the signal:

* baseline: a bare paho subscriber on the host's status topic receiving the Last Will
  (what the broker itself delivers);
* sessionbeat: `GET /sessions` on a real aggregator showing the session ``offline``.

Bars (docs/architecture.md): killed -> offline in < 2 s; frozen -> < 1.5 x keepalive + 7 s.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import Agent, Aggregator, wait_until  # noqa: E402

from sessionbeat import topics  # noqa: E402
from sessionbeat.broker.client import make_client  # noqa: E402
from sessionbeat.broker.embedded import LocalBroker  # noqa: E402
from sessionbeat.settings import load_settings  # noqa: E402
from sessionbeat.stack.replay import load_payload  # noqa: E402

SID = "7da73774-862d-4897-94a7-ef847ce65033"


class WillWatcher:
    """A bare paho subscriber that notes when a host's status turns offline."""

    def __init__(self, broker_url: str, host: str) -> None:
        self.offline_at: float | None = None
        self.armed = threading.Event()
        settings = load_settings(broker_url=broker_url)
        self.client = make_client(f"bench-will-{host}", settings.broker)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(topics.status_topic(host), qos=1)
        self.client.connect(settings.broker.host, settings.broker.port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if self.armed.is_set() and json.loads(message.payload or b"{}").get("state") == "offline":
            self.offline_at = self.offline_at or time.monotonic()

    def close(self) -> None:
        """Disconnect the watcher."""
        self.client.disconnect()
        self.client.loop_stop()


def trial(
    broker: LocalBroker, aggregator: Aggregator, root: Path, n: int, sig: int, keepalive: int
) -> tuple[float, float]:
    """One agent, one signal; return (will_seconds, api_seconds)."""
    host = f"live-{n}"
    agent = Agent(
        broker.url,
        root / host,
        host,
        SESSIONBEAT_MQTT_KEEPALIVE=str(keepalive),
        SESSIONBEAT_LOG_LEVEL="WARNING",
    )
    watcher = WillWatcher(broker.url, host)
    try:
        agent.publish(load_payload("hook-SessionStart-1.json"))
        with httpx.Client(base_url=aggregator.url, timeout=5) as client:

            def status() -> str | None:
                items = client.get("/sessions", params={"host": host, "all": "true"}).json()
                return items[0]["status"] if items else None

            wait_until(lambda: status() == "waiting_for_input", 20)
            watcher.armed.set()
            start = time.monotonic()
            agent.signal(sig)
            wait_until(lambda: status() == "offline", 60, interval=0.01)
            api = time.monotonic() - start
        wait_until(lambda: watcher.offline_at is not None, 10)
        assert watcher.offline_at is not None
        return watcher.offline_at - start, api
    finally:
        watcher.close()
        agent.stop()


def main() -> None:
    """Run the trials and print medians, maxima and the ratio to the broker's Will."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--freezes", type=int, default=3)
    parser.add_argument("--keepalive", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sbb-", dir="/tmp"))
    with LocalBroker(root / "broker") as broker:
        aggregator = Aggregator(broker.url, root / "agg")
        try:
            kills = [
                trial(broker, aggregator, root, i, signal.SIGKILL, args.keepalive)
                for i in range(args.kills)
            ]
            freezes = [
                trial(broker, aggregator, root, 100 + i, signal.SIGSTOP, args.keepalive)
                for i in range(args.freezes)
            ]
        finally:
            aggregator.stop()
    bar = 1.5 * args.keepalive + 7
    for name, runs, limit in (("kill -9", kills, 2.0), ("SIGSTOP", freezes, bar)):
        will = [w for w, _ in runs]
        api = [a for _, a in runs]
        print(
            f"{name:8} broker Will  median {statistics.median(will):6.3f} s  "
            f"max {max(will):6.3f} s  (n={len(runs)})"
        )
        print(
            f"{name:8} API offline  median {statistics.median(api):6.3f} s  "
            f"max {max(api):6.3f} s  ratio {statistics.median(api) / statistics.median(will):.2f}"
            f" x the Will  (bar < {limit:.1f} s: {'PASS' if max(api) < limit else 'FAIL'})"
        )


if __name__ == "__main__":
    main()
