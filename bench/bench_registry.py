"""Benchmark the registry watch: change -> broker latency, and the agent's idle CPU.

Usage: .venv/bin/python bench/bench_registry.py [--sessions 20] [--changes 20] [--idle 60]

Two real agents run side by side on one real Mosquitto, each with ``--sessions`` live sessions:
a real process per session (``sleep``) and a registry file ``<pid>.json`` beside it, written the
way Claude Code 2.1.328 writes them (in place, ``statusUpdatedAt`` in epoch ms, ``procStart``):

* **watch**: the default, file-system events on the registry folder (``registry_watch``);
* **poll** (the baseline, the design before): ``SESSIONBEAT_REGISTRY_WATCH=false``, a scan every
  ``registry_poll_interval`` = 2 s.

Measured for each:

* latency from rewriting one registry file (a status change no hook reports, e.g. an approval
  at the terminal) to the session's beat with the new ``registry_status`` arriving at a bare
  paho subscriber, ``--changes`` times: p50 / p95 / max, and the ratio watch/poll. Goal: the
  change reaches the broker within 250 ms.
* idle CPU: the agent process's user + system CPU time (psutil) over ``--idle`` seconds with
  nothing changing, as a percentage of one core, and the ratio watch/poll. Goal: < 0.5 %.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import Agent, wait_until, write_registry_entry  # noqa: E402

from sessionbeat import topics  # noqa: E402
from sessionbeat.broker.client import make_client  # noqa: E402
from sessionbeat.broker.embedded import LocalBroker  # noqa: E402
from sessionbeat.settings import load_settings  # noqa: E402


class BeatWatcher:
    """A bare paho subscriber noting when each (host, session) last got a registry word."""

    def __init__(self, broker_url: str) -> None:
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, str], tuple[str | None, float]] = {}
        settings = load_settings(broker_url=broker_url)
        self.client = make_client("bench-registry-watcher", settings.broker)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(topics.ROOT + "/+/sessions/+", qos=0)
        self.client.connect(settings.broker.host, settings.broker.port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if not message.payload:
            return
        beat = json.loads(message.payload)
        with self.lock:
            self.seen[(beat["host"], beat["session_id"])] = (
                beat.get("registry_status"),
                time.monotonic(),
            )

    def word(self, host: str, sid: str) -> tuple[str | None, float]:
        """Return the last registry word seen for a session and when (monotonic seconds)."""
        with self.lock:
            return self.seen.get((host, sid), (None, 0.0))

    def close(self) -> None:
        """Disconnect the subscriber."""
        self.client.disconnect()
        self.client.loop_stop()


class Host:
    """One agent with ``n`` live stand-in sessions and their registry files."""

    def __init__(self, broker: LocalBroker, root: Path, name: str, n: int, watch: bool) -> None:
        self.name = name
        self.sleepers = [
            subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL) for _ in range(n)
        ]
        self.sids = [f"{name}-{i:04d}-0000-4000-8000-000000000000" for i in range(n)]
        state = root / name
        registry = state / "claude" / "sessions"
        registry.mkdir(parents=True)
        self.paths = [registry / f"{p.pid}.json" for p in self.sleepers]
        for path, proc, sid in zip(self.paths, self.sleepers, self.sids, strict=True):
            write_registry_entry(path, proc.pid, sid, "idle")
        self.agent = Agent(
            broker.url,
            state,
            name,
            SESSIONBEAT_REGISTRY_WATCH="true" if watch else "false",
            SESSIONBEAT_LOG_LEVEL="WARNING",
        )

    def close(self) -> None:
        """Stop the agent and the stand-in processes."""
        self.agent.stop()
        for proc in self.sleepers:
            proc.kill()
            proc.wait()


def latencies(host: Host, watcher: BeatWatcher, changes: int) -> list[float]:
    """Rewrite registry files ``changes`` times; return seconds until each beat arrived."""
    out = []
    for i in range(changes):
        k = i % len(host.paths)
        word = "busy" if watcher.word(host.name, host.sids[k])[0] != "busy" else "idle"
        start = time.monotonic()
        write_registry_entry(host.paths[k], host.sleepers[k].pid, host.sids[k], word)
        seen = wait_until(
            lambda k=k, word=word, start=start: (
                (w := watcher.word(host.name, host.sids[k]))[0] == word and w[1] >= start and w
            ),
            10,
            interval=0.001,
        )
        out.append(seen[1] - start)
        time.sleep(0.05)
    return out


def idle_cpu(hosts: list[Host], seconds: float) -> list[float]:
    """Return each agent's CPU use over ``seconds`` of quiet, in percent of one core."""
    procs = [psutil.Process(h.agent.pid) for h in hosts]
    before = [sum(p.cpu_times()[:2]) for p in procs]
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    after = [sum(p.cpu_times()[:2]) for p in procs]
    return [100.0 * (a - b) / elapsed for a, b in zip(after, before, strict=True)]


def pct(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    """Run both agents, measure, print the figures and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sbb-reg-", dir="/tmp"))
    with LocalBroker(root / "broker") as broker:
        watcher = BeatWatcher(broker.url)
        hosts: list[Host] = []
        try:
            hosts = [
                Host(broker, root, "watch", args.sessions, watch=True),
                Host(broker, root, "poll", args.sessions, watch=False),
            ]
            for host in hosts:
                wait_until(
                    lambda host=host: all(
                        watcher.word(host.name, sid)[0] == "idle" for sid in host.sids
                    ),
                    30,
                )
            time.sleep(3)  # start-up scans and the first keepalives done
            cpu = idle_cpu(hosts, args.idle)
            lat = {h.name: latencies(h, watcher, args.changes) for h in hosts}
        finally:
            for host in hosts:
                host.close()
            watcher.close()
    for host, used in zip(hosts, cpu, strict=True):
        ms = [1000 * v for v in lat[host.name]]
        print(
            f"{host.name:5}  change -> broker  p50 {statistics.median(ms):7.1f} ms  "
            f"p95 {pct(ms, 0.95):7.1f} ms  max {max(ms):7.1f} ms  (n={len(ms)})   "
            f"idle CPU {used:.3f} % of one core ({args.sessions} sessions, {args.idle:.0f} s)"
        )
    watch_ms, poll_ms = (statistics.median(lat[h.name]) for h in hosts)
    cpu_ratio = f"{cpu[0] / cpu[1]:.2f}" if cpu[1] else "n/a (no CPU measured)"
    print(
        f"ratio watch/poll: latency p50 {watch_ms / poll_ms:.3f}, idle CPU {cpu_ratio}"
        f"  (goals: change -> broker < 250 ms: "
        f"{'PASS' if pct(lat['watch'], 0.95) < 0.25 else 'FAIL'}; "
        f"idle CPU < 0.5 %: {'PASS' if cpu[0] < 0.5 else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
