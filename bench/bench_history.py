"""Benchmark the history's writes and reads on SQLite and on a real PostgreSQL.

Usage: .venv/bin/python bench/bench_history.py [--entries 20000] [--batch 100] [--reads 300]

For each backend a fresh history (:class:`~sessionbeat.aggregator.history.History`) gets
``--entries`` reaped sessions on 200 hosts and 50 repos, ``--batch`` per :meth:`History.add`
(one reaper pass's worth), then:

* **write**: µs per entry of those adds, and of adding all of them once more (every row a
  duplicate life, skipped by ``ON CONFLICT DO NOTHING``: a second aggregator's overlap);
* **page**: ``page(limit=50)`` (newest), ``page(host=..., limit=50)``, ``page(offset=10000)``
  and ``find(session_id)``, ``--reads`` calls each: p50 / p95 in ms.

Backends: ``sqlite`` (the file, WAL, as the aggregator runs it), ``postgresql`` (a cluster of
its own started like the tests do, tests/pg.py: fsync off, on this machine's loopback), and
the baseline ``sqlite3-raw``: the same rows and SELECT through the stdlib ``sqlite3`` module
directly, with no SQLAlchemy in between (the history's code before it moved to SQLAlchemy Core).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pg import PgCluster  # noqa: E402

from sessionbeat.aggregator.history import History  # noqa: E402
from sessionbeat.aggregator.history_schema import to_row  # noqa: E402
from sessionbeat.models import HistoryEntry, SessionStatus, StatusChange  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_entries(n: int) -> list[HistoryEntry]:
    """Return ``n`` reaped sessions, one a second, on 200 hosts and 50 repos."""
    out = []
    for i in range(n):
        reaped = T0 + timedelta(seconds=i)
        out.append(
            HistoryEntry(
                session_id=f"{i:08x}-0000-4000-8000-000000000000",
                host=f"host-{i % 200:03d}",
                repo=f"repo-{i % 50}",
                branch="main",
                cwd=f"/src/repo-{i % 50}",
                model="claude-opus-4",
                task="fix the build and the flaky test",
                status=SessionStatus.ENDED,
                end_reason="prompt_input_exit",
                reap_reason="ended",
                started_at=reaped - timedelta(minutes=30),
                last_activity_at=reaped - timedelta(minutes=1),
                reaped_at=reaped,
                context_tokens=12000,
                context_window=200000,
                transcript_path=None,
                timeline=[
                    StatusChange(at=reaped - timedelta(minutes=30), status=SessionStatus.WORKING),
                    StatusChange(at=reaped, status=SessionStatus.ENDED, event="SessionEnd"),
                ],
            )
        )
    return out


def pct(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], object], n: int) -> str:
    """Run ``fn`` ``n`` times; return "p50 / p95" in ms."""
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000)
    return f"{statistics.median(runs):.2f} / {pct(runs, 0.95):.2f}"


def bench_history(
    name: str, h: History, entries: list[HistoryEntry], args: argparse.Namespace
) -> None:
    """Write and read through ``h``; print one table row per measure."""
    assert h.open()
    t = time.perf_counter()
    for i in range(0, len(entries), args.batch):
        h.add(entries[i : i + args.batch])
    write = (time.perf_counter() - t) / len(entries) * 1e6
    t = time.perf_counter()
    for i in range(0, len(entries), args.batch):
        h.add(entries[i : i + args.batch])
    dup = (time.perf_counter() - t) / len(entries) * 1e6
    assert h.page(limit=1).total == len(entries), "duplicates were written"
    mid = entries[len(entries) // 2].session_id
    print(f"| {name} | write | {write:.0f} µs/entry | again (all duplicates) {dup:.0f} µs/entry |")
    print(f"| {name} | page newest 50 | {timed(lambda: h.page(limit=50), args.reads)} ms | |")
    host_page = timed(lambda: h.page(host="host-007", limit=50), args.reads)
    print(f"| {name} | page host=… 50 | {host_page} ms | |")
    deep = timed(lambda: h.page(limit=50, offset=len(entries) // 2), args.reads)
    print(f"| {name} | page offset={len(entries) // 2} | {deep} ms | |")
    print(f"| {name} | find(id) | {timed(lambda: h.find(mid), args.reads)} ms | |")
    h.close()


def bench_raw(path: Path, entries: list[HistoryEntry], args: argparse.Namespace) -> None:
    """Write and read the baseline: the same rows and newest-page SELECT via stdlib sqlite3."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(
        "CREATE TABLE reaped_sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT,"
        " host TEXT, repo TEXT, reap_reason TEXT, reaped_at REAL, life TEXT, entry TEXT);"
        "CREATE INDEX r_at ON reaped_sessions (reaped_at);"
        "CREATE UNIQUE INDEX r_life ON reaped_sessions (host, session_id, life);"
    )
    sql = (
        "INSERT INTO reaped_sessions (session_id, host, repo, reap_reason, reaped_at, life, entry)"
        " VALUES (:session_id, :host, :repo, :reap_reason, :reaped_at, :life, :entry)"
        " ON CONFLICT DO NOTHING"
    )
    t = time.perf_counter()
    for i in range(0, len(entries), args.batch):
        rows = [to_row(e) for e in entries[i : i + args.batch]]
        db.execute("BEGIN")
        db.executemany(sql, rows)
        db.execute("COMMIT")
    write = (time.perf_counter() - t) / len(entries) * 1e6

    def newest() -> list[HistoryEntry]:
        db.execute("SELECT COUNT(*) FROM reaped_sessions").fetchone()
        got = db.execute(
            "SELECT entry FROM reaped_sessions ORDER BY reaped_at DESC, id DESC LIMIT 50"
        )
        return [HistoryEntry.model_validate_json(r[0]) for r in got]

    print(f"| sqlite3-raw (baseline) | write | {write:.0f} µs/entry | |")
    print(f"| sqlite3-raw (baseline) | page newest 50 | {timed(newest, args.reads)} ms | |")
    db.close()


def main() -> None:
    """Run every backend and print the table (markdown) for bench/README.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    entries = make_entries(args.entries)
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-history-"))
    print(f"{args.entries} entries, {args.batch} per add, {args.reads} reads per measure\n")
    print("| backend | measure | p50 / p95 or cost | |")
    print("| --- | --- | --- | --- |")
    bench_raw(tmp / "raw.sqlite3", entries, args)
    bench_history("sqlite", History(tmp / "h.sqlite3", keep_days=3650), entries, args)
    cluster = PgCluster()
    try:
        cluster.start()
        url = cluster.new_database()
        bench_history("postgresql", History(tmp / "x", keep_days=3650, url=url), entries, args)
    finally:
        cluster.remove()


if __name__ == "__main__":
    main()
