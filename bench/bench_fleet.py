"""Fleet load: N hosts x M sessions against a real Mosquitto and a real aggregator (issue 15).

A real Mosquitto (``src/sessionbeat/broker/local.conf`` on a free loopback port) and a real
``sessionbeat aggregator`` process (its own temp state dir and history, free HTTP port; HOME
points into the temp dir). The fleet (``fleet_model.py``: hosts, sessions, the turn cycle of
hook events, 30 s heartbeats) is published through ``--connections`` MQTT 5 connections
(paho 2.x, VERSION2, the project's ``make_client``), host ``h`` on connection ``h % K``. Each
host's retained birth (``online``, bdseq 1, the agent's fields) goes first, then every session's
retained beat (QoS 1, Message Expiry 1800 s), as an agent does after CONNECT. A Last Will belongs
to a connection, so the simulated hosts have none: the bench never disconnects a host; a real
agent's Will is exercised by bench_liveness.py.

Per size it reports:

* load: first birth published -> every session counted by ``GET /summary`` (``total + stale``);
* ingest lag: a marker beat (a heartbeat of a fleet session, from the generator's thread) from
  ``publish()`` to ``GET /sessions/{id}`` showing its ``seq``, p50/p95 over ``--markers``, during
  the steady load; baseline: the same marker's arrival at a bare paho subscriber (the broker's
  round trip);
* aggregator RSS after the load and after the steady phase (psutil), CPU % of one core during the
  steady phase (markers only, no other HTTP), the broker's and the generator's too;
* every route's p50/p95 under the steady load (``--requests`` each, round robin, at most
  ``--route-budget`` seconds per route) and its response bytes; baseline ``GET /healthz`` p50;
* cold start: the load stopped, a bare subscriber counts the broker's retained beats (baseline
  time; a count below N is reported loudly), then the aggregator is stopped (SIGTERM) and started
  again: time to ``/readyz`` 200 and until every session is counted again;
* PASS/MISS against the issue's goals for 10k and 100k sessions.

Run: ``.venv/bin/python bench/bench_fleet.py [--sizes 10k,100k | --hosts 2000
--sessions-per-host 50 | --quick] [--connections 4] [--rate-scale 1] [--json out.json]``
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psutil

import fleet_model as fm
from sessionbeat.broker.client import make_client, publish_properties
from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.settings import BrokerAddress, load_settings

PRESETS = {"1k": (20, 50), "10k": (200, 50), "100k": (2000, 50)}
"""Size name -> (hosts, sessions per host)."""
BATCH = 20_000
"""Initial publishes awaited at a time (paho's packet ids wrap at 65,535 outstanding)."""
SESSION_FILTER = "sessionbeat/v1/+/sessions/+"


def goals(sessions: int) -> list[tuple[str, str, float]]:
    """Return the issue's goals for a fleet of ``sessions``: (what, result key, upper bound)."""
    if sessions >= 100_000:
        return [
            ("RSS after load < 1 GB", "rss_after_load_mb", 1024),
            ("cold start, every session back < 10 s", "cold_all_s", 10),
            ("/overview p95 < 50 ms", "route./overview.p95_ms", 50),
            ("/sessions?limit=100 p95 < 20 ms", "route./sessions?limit=100.p95_ms", 20),
            ("/metrics p95 < 1 s", "route./metrics.p95_ms", 1000),
            ("/metrics < 5 MB", "route./metrics.bytes", 5_000_000),
        ]
    if sessions >= 10_000:
        return [("/overview p95 < 20 ms", "route./overview.p95_ms", 20)]
    return []


def note(text: str) -> None:
    """Print a progress line to stderr (long phases at 100k take minutes)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0-1) of ``values``, inclusive method; the max if too few."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class Publishers:
    """``count`` MQTT 5 connections of the simulated hosts; host ``h`` uses ``h % count``."""

    def __init__(self, broker: BrokerAddress, count: int) -> None:
        self.clients = []
        for c in range(count):
            client = make_client(f"bench-fleet-{os.getpid()}-{c}", broker)
            client.max_inflight_messages_set(1000)
            client.connect(broker.host, broker.port)
            client.loop_start()
            self.clients.append(client)
        self.props = publish_properties(fm.REAP_AFTER)

    def publish(self, host: int, topic: str, payload: bytes, expiry: bool) -> mqtt.MQTTMessageInfo:
        """Publish retained with QoS 1 (with Message Expiry for a beat, not for a birth)."""
        client = self.clients[host % len(self.clients)]
        return client.publish(
            topic, payload, qos=1, retain=True, properties=self.props if expiry else None
        )

    def close(self) -> None:
        """Disconnect every connection."""
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


class Generator(threading.Thread):
    """The steady load: the fleet's beats as they fall due, and markers on request.

    Simulated time runs ``scale`` times faster than the wall clock. :meth:`marker` asks for an
    extra beat of a session and returns ``(seq, publish time)`` once it is handed to paho.
    ``sent`` counts beats; ``started``/``stopped`` are ``time.monotonic()`` values; ``behind``
    is the most wall seconds a due beat waited (a generator that cannot keep up: see ``sent``).
    """

    def __init__(self, fleet: fm.Fleet, pubs: Publishers, scale: float) -> None:
        super().__init__(daemon=True, name="fleet-generator")
        self.fleet, self.pubs, self.scale = fleet, pubs, scale
        self.halt = threading.Event()
        self.requests: list[tuple[int, threading.Event, list[Any]]] = []
        self.lock = threading.Lock()
        self.sent = 0
        self.behind = 0.0  # the most wall seconds the oldest due beat was late
        self.started = self.stopped = 0.0

    def marker(self, index: int) -> tuple[int, float]:
        """Publish an extra beat of session ``index`` from this thread; return (seq, time)."""
        done, box = threading.Event(), []  # type: ignore[var-annotated]
        with self.lock:
            self.requests.append((index, done, box))
        if not done.wait(30):
            raise RuntimeError("the generator did not publish the marker")
        seq, at = box
        return int(seq), float(at)

    def run(self) -> None:
        """Publish what falls due every few ms until :attr:`halt` is set."""
        self.started = time.monotonic()
        self.fleet.start(0.0)
        while not self.halt.is_set():
            t = (time.monotonic() - self.started) * self.scale
            now = datetime.now(UTC)
            beats = self.fleet.step(t, now)
            for host, topic, payload in beats:
                self.pubs.publish(host, topic, payload, True)
            self.sent += len(beats)
            self.behind = max(self.behind, self.fleet.behind(t) / self.scale)
            with self.lock:
                requests, self.requests = self.requests, []
            for index, done, box in requests:
                topic, payload, seq = self.fleet.marker(index, t, now)
                box += [seq, time.perf_counter()]
                self.pubs.publish(self.fleet.sessions[index].host_index, topic, payload, True)
                done.set()
            if len(beats) < 1000:
                time.sleep(0.002)
        self.stopped = time.monotonic()


class Watcher:
    """A bare paho subscriber on the marker sessions' topics: when each ``seq`` arrives."""

    def __init__(self, broker: BrokerAddress, topics: list[str]) -> None:
        self.arrived: dict[tuple[str, int], float] = {}
        self.client = make_client(f"bench-fleet-watch-{os.getpid()}", broker)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(t, 0) for t in topics])
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            self.arrived[(msg.topic, json.loads(msg.payload)["seq"])] = time.perf_counter()

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def count_retained(broker: BrokerAddress, expect: int, quiet: float = 3.0) -> tuple[int, float]:
    """Subscribe to every session topic; return (retained beats received, seconds to the last).

    Stops at ``expect`` messages, or after ``quiet`` seconds without one.
    """
    got, last = [0], [0.0]
    client = make_client(f"bench-fleet-count-{os.getpid()}", broker)

    def on_message(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            got[0] += 1
            last[0] = time.perf_counter()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    start = time.perf_counter()
    client.subscribe(SESSION_FILTER, 0)
    client.loop_start()
    while got[0] < expect:
        seen = got[0]
        time.sleep(quiet)
        if got[0] == seen:
            break
    client.disconnect()
    client.loop_stop()
    return got[0], (last[0] - start) if got[0] else float("nan")


@contextlib.contextmanager
def aggregator(broker_url: str, tmp: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``sessionbeat aggregator`` on ``port`` with its state in ``tmp``; stopped on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBEAT_")}
    env |= {
        "SESSIONBEAT_BROKER_URL": broker_url,
        "SESSIONBEAT_STATE_DIR": str(tmp / "state"),
        "SESSIONBEAT_LOG_LEVEL": "WARNING",
        "HOME": str(tmp / "home"),
        "XDG_CONFIG_HOME": str(tmp / "home" / ".config"),
    }
    script = str(Path(sys.executable).parent / "sessionbeat")
    argv = [script, "aggregator", "--bind", "127.0.0.1", "--port", str(port)]
    with (tmp / "aggregator.log").open("ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    """Poll ``check`` until True; return the seconds it took. Raises ``SystemExit`` on timeout."""
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise SystemExit(f"timed out after {timeout:.0f} s: {what}")
        time.sleep(interval)
    return time.perf_counter() - start


def visible(http: httpx.Client) -> int:
    """Return the sessions the API counts (``/summary`` ``total + stale``), 0 if it fails."""
    try:
        body = http.get("/summary", timeout=60).json()
        return int(body["total"]) + int(body["stale"])
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


def answers(http: httpx.Client, path: str) -> bool:
    """Return True if ``GET path`` answers 200."""
    try:
        return http.get(path, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def cpu_seconds(proc: psutil.Process) -> float:
    """Return the process's user + system CPU seconds so far."""
    t = proc.cpu_times()
    return float(t.user + t.system)


def lag_phase(
    gen: Generator, watch: Watcher, http: httpx.Client, markers: list[int], timeout: float
) -> dict[str, Any]:
    """Publish one marker every 0.5 s; return API and broker lag p50/p95 in ms.

    A marker the API does not show within ``timeout`` seconds is counted in ``lag_missed``
    (the aggregator is behind the offered rate); after three the phase stops.
    """
    api, broker, missed = [], [], 0
    for index in markers:
        s = gen.fleet.sessions[index]
        seq, at = gen.marker(index)
        while True:
            response = http.get(f"/sessions/{s.session_id}", params={"host": s.host})
            if response.status_code == 200 and response.json()["seq"] >= seq:
                api.append((time.perf_counter() - at) * 1000)
                break
            if time.perf_counter() - at > timeout:
                missed += 1
                note(f"marker {s.session_id} seq {seq} not in the API after {timeout:.0f} s")
                break
            time.sleep(0.001)
        key = (s.topic, seq)
        wait_for(lambda k=key: k in watch.arrived, 30, "marker at the bare subscriber")  # type: ignore[misc]
        broker.append((watch.arrived[key] - at) * 1000)
        if missed >= 3:
            break
        time.sleep(0.5)
    return {
        "lag_p50_ms": pct(api, 0.5),
        "lag_p95_ms": pct(api, 0.95) if not missed else float("inf"),
        "lag_seen": len(api),
        "lag_missed": missed,
        "broker_lag_p50_ms": pct(broker, 0.5),
        "broker_lag_p95_ms": pct(broker, 0.95),
    }


def poll_visible(http: httpx.Client, n: int, timeout: float) -> tuple[int, float]:
    """Poll ``/summary`` until it counts ``n`` sessions; return (last count, seconds taken).

    The pause between polls is as long as the last poll took (at least 0.1 s), so that polling
    holds the aggregator's lock at most half of the time. Seconds are NaN if ``n`` never came.
    """
    start = time.perf_counter()
    while True:
        before = time.perf_counter()
        count = visible(http)
        if count >= n:
            return count, time.perf_counter() - start
        if before - start > timeout:
            return count, float("nan")
        time.sleep(max(0.1, time.perf_counter() - before))


def routes_phase(
    http: httpx.Client, fleet: fm.Fleet, requests: int, budget: float
) -> dict[str, dict[str, float]]:
    """Time every route round robin under the steady load; return p50/p95 ms, n, bytes."""
    sample = [fleet.sessions[i] for i in fleet.rng.sample(range(len(fleet.sessions)), 50)]
    routes: dict[str, Callable[[int], httpx.Response]] = {
        "/healthz": lambda i: http.get("/healthz"),
        "/summary": lambda i: http.get("/summary"),
        "/hosts": lambda i: http.get("/hosts"),
        "/overview": lambda i: http.get("/overview"),
        "/sessions": lambda i: http.get("/sessions"),
        "/sessions?limit=100": lambda i: http.get("/sessions", params={"limit": 100}),
        "/sessions/{id}": lambda i: http.get(
            f"/sessions/{sample[i % 50].session_id}", params={"host": sample[i % 50].host}
        ),
        "/metrics": lambda i: http.get("/metrics"),
    }
    times: dict[str, list[float]] = {name: [] for name in routes}
    size: dict[str, int] = {}
    for i in range(requests):
        for name, call in routes.items():
            if sum(times[name]) / 1000 > budget:
                continue
            start = time.perf_counter()
            response = call(i)
            times[name].append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
            size[name] = len(response.content)
    return {
        name: {"p50_ms": pct(ms, 0.5), "p95_ms": pct(ms, 0.95), "n": len(ms), "bytes": size[name]}
        for name, ms in times.items()
    }


def run_size(hosts: int, per_host: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run one fleet size end to end; return its figures (a flat-ish dict, see the docstring)."""
    n = hosts * per_host
    out: dict[str, Any] = {"hosts": hosts, "sessions": n, "connections": args.connections}
    out["loadavg_start"] = os.getloadavg()[0]
    out["offered_msgs_per_s"] = fm.offered_rate(n) * args.rate_scale
    fleet = fm.build_fleet(hosts, per_host, datetime.now(UTC))
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sb-fleet-")))
        broker = stack.enter_context(LocalBroker(tmp / "broker"))
        address = load_settings(broker_url=broker.url).broker
        port = free_port()
        agg = stack.enter_context(aggregator(broker.url, tmp, port))
        http = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120))
        wait_for(lambda: answers(http, "/readyz"), 60, "aggregator /readyz")
        pubs = Publishers(address, args.connections)
        stack.callback(pubs.close)
        note(f"{n:,} sessions on {hosts:,} hosts: initial burst")
        start = time.perf_counter()
        now = datetime.now(UTC)
        infos = [pubs.publish(h, *fleet.birth(h, now), False) for h in range(hosts)]
        for s in fleet.sessions:
            infos.append(pubs.publish(s.host_index, *fleet.beat(s, now), True))
            if len(infos) >= BATCH:
                for info in infos:
                    info.wait_for_publish(300)
                infos = []
        for info in infos:
            info.wait_for_publish(300)
        out["publish_s"] = time.perf_counter() - start
        count, _ = poll_visible(http, n, 600)
        if count < n:
            raise SystemExit(f"only {count} of {n} sessions visible after 600 s")
        out["load_s"] = time.perf_counter() - start
        note(f"published in {out['publish_s']:.1f} s, all visible after {out['load_s']:.1f} s")
        out["status_mix"] = http.get("/summary").json()["by_status"]
        assert broker.process is not None
        agg_ps, broker_ps = psutil.Process(agg.pid), psutil.Process(broker.process.pid)
        out["rss_after_load_mb"] = agg_ps.memory_info().rss / 2**20
        note(
            f"steady load ({out['offered_msgs_per_s']:,.0f} msg/s offered), {args.markers} markers"
        )
        gc.collect()
        markers = [round(i * (n - 1) / max(1, args.markers - 1)) for i in range(args.markers)]
        watch = Watcher(address, [fleet.sessions[i].topic for i in markers])
        stack.callback(watch.close)
        gen = Generator(fleet, pubs, args.rate_scale)
        gen.start()
        stack.callback(gen.halt.set)
        time.sleep(args.warmup)
        me = psutil.Process()
        cpu0 = [cpu_seconds(p) for p in (agg_ps, broker_ps, me)]
        sent0, wall0, gen.behind = gen.sent, time.perf_counter(), 0.0
        out |= lag_phase(gen, watch, http, markers, args.marker_timeout)
        wall = time.perf_counter() - wall0
        cpu = [
            (cpu_seconds(p) - c) / wall * 100
            for p, c in zip((agg_ps, broker_ps, me), cpu0, strict=True)
        ]
        out["sent_msgs_per_s"] = (gen.sent - sent0) / wall
        out["generator_behind_s"] = gen.behind
        out["cpu_aggregator_pct"], out["cpu_broker_pct"], out["cpu_generator_pct"] = cpu
        note("routes")
        out["routes"] = routes_phase(http, fleet, args.requests, args.route_budget)
        out["rss_after_steady_mb"] = agg_ps.memory_info().rss / 2**20
        out["broker_rss_mb"] = broker_ps.memory_info().rss / 2**20
        gen.halt.set()
        gen.join(30)
        note("cold start from the broker's retained messages")
        time.sleep(1)
        out["retained"], out["retained_bare_s"] = count_retained(address, n)
        agg.send_signal(signal.SIGTERM)
        agg.wait(120)
        start = time.perf_counter()
        agg2 = stack.enter_context(aggregator(broker.url, tmp, port))
        wait_for(lambda: answers(http, "/readyz"), 120, "restart /readyz")
        out["cold_ready_s"] = time.perf_counter() - start
        count, taken = poll_visible(http, n, 300)
        out["cold_all_s"] = out["cold_ready_s"] + taken
        out["cold_count"] = count
        out["cold_rebuild_s"] = out["cold_all_s"] - out["cold_ready_s"]
        out["cold_count"] = count
        out["rss_after_cold_mb"] = psutil.Process(agg2.pid).memory_info().rss / 2**20
        out["loadavg_end"] = os.getloadavg()[0]
    return out


def report(r: dict[str, Any]) -> None:
    """Print one size's figures, ratios against the baselines, and PASS/MISS per goal."""
    n = r["sessions"]
    print(f"\n== {n:,} sessions on {r['hosts']:,} hosts ({r['connections']} MQTT connections) ==")
    print(
        f"machine load average (1 min): {r['loadavg_start']:.1f} at start,"
        f" {r['loadavg_end']:.1f} at end"
    )
    print(
        f"offered {r['offered_msgs_per_s']:,.0f} msg/s, sent {r['sent_msgs_per_s']:,.0f} msg/s;"
        f" initial publish {r['publish_s']:.1f} s, all visible in the API after {r['load_s']:.1f} s"
    )
    if r["sent_msgs_per_s"] < 0.9 * r["offered_msgs_per_s"]:
        print(
            f"!!! the generator fell behind (a due beat waited up to {r['generator_behind_s']:.1f}"
            " s): the aggregator saw less than the offered rate !!!"
        )
    if r["lag_missed"]:
        print(
            f"!!! {r['lag_missed']} markers did not reach the API within the timeout: the"
            " aggregator is behind the offered rate (the lag grows) !!!"
        )
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(r["status_mix"].items()))
    print(f"status mix after load (GET /summary): {mix}")
    print(
        f"ingest lag ({r['lag_seen']} markers) p50 {r['lag_p50_ms']:.1f} ms,"
        f" p95 {r['lag_p95_ms']:.1f} ms; bare subscriber"
        f" p50 {r['broker_lag_p50_ms']:.2f} ms, p95 {r['broker_lag_p95_ms']:.2f} ms"
        f" (ratio p50 {r['lag_p50_ms'] / r['broker_lag_p50_ms']:.0f}x)"
    )
    print(
        f"aggregator RSS {r['rss_after_load_mb']:,.0f} MB after load, "
        f"{r['rss_after_steady_mb']:,.0f} MB after steady, {r['rss_after_cold_mb']:,.0f} MB after"
        f" cold start; broker RSS {r['broker_rss_mb']:,.0f} MB"
    )
    print(
        f"CPU (% of one core, steady): aggregator {r['cpu_aggregator_pct']:.0f} %, broker "
        f"{r['cpu_broker_pct']:.0f} %, generator {r['cpu_generator_pct']:.0f} %"
    )
    floor = r["routes"]["/healthz"]["p50_ms"]
    print(f"{'route':<22}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'bytes':>13}{'p50/healthz':>13}")
    for name, m in r["routes"].items():
        print(
            f"{name:<22}{m['n']:>5}{m['p50_ms']:>10.1f}{m['p95_ms']:>10.1f}{m['bytes']:>13,}"
            f"{m['p50_ms'] / floor:>12.1f}x"
        )
    print(
        f"cold start: /readyz after {r['cold_ready_s']:.2f} s, {r['cold_count']:,}/{n:,} sessions"
        f" after {r['cold_all_s']:.2f} s; bare subscriber got {r['retained']:,} retained in "
        f"{r['retained_bare_s']:.2f} s; /readyz -> all back {r['cold_rebuild_s']:.2f} s"
        f" (ratio {r['cold_rebuild_s'] / r['retained_bare_s']:.1f}x the bare subscriber)"
    )
    if r["retained"] < n:
        print(f"!!! THE BROKER HELD ONLY {r['retained']:,} OF {n:,} RETAINED BEATS !!!")
    if r["cold_count"] < n:
        print(f"!!! ONLY {r['cold_count']:,} OF {n:,} SESSIONS CAME BACK AFTER THE RESTART !!!")
    for what, key, bound in goals(n):
        value = lookup(r, key)
        verdict = "PASS" if value < bound else "MISS"
        r.setdefault("goals", {})[what] = verdict
        print(f"  {verdict}  {what}: {value:,.1f}")


def lookup(r: dict[str, Any], key: str) -> float:
    """Return ``r[key]``, where ``route.<name>.<field>`` reads ``r['routes'][name][field]``."""
    if key.startswith("route."):
        _, rest = key.split(".", 1)
        name, fld = rest.rsplit(".", 1)
        return float(r["routes"][name][fld])
    return float(r[key])


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run each size, print and optionally write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k", help="comma-separated: 1k, 10k, 100k")
    parser.add_argument("--hosts", type=int, help="instead of --sizes: this many hosts ...")
    parser.add_argument("--sessions-per-host", type=int, default=50, help="... with this many")
    parser.add_argument("--quick", action="store_true", help="one small size (1k sessions)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate-scale", type=float, default=1.0, help="simulated s per wall s")
    parser.add_argument("--markers", type=int, default=20)
    parser.add_argument("--marker-timeout", type=float, default=30.0, help="seconds")
    parser.add_argument("--requests", type=int, default=100, help="per route")
    parser.add_argument("--route-budget", type=float, default=30.0, help="seconds per route")
    parser.add_argument("--warmup", type=float, default=5.0, help="steady load before measuring")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.hosts:
        sizes = [(args.hosts, args.sessions_per_host)]
    elif args.quick:
        sizes = [PRESETS["1k"]]
    else:
        sizes = [PRESETS[name.strip()] for name in args.sizes.split(",")]
    results = []
    for hosts, per_host in sizes:
        result = run_size(hosts, per_host, args)
        report(result)
        results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
