"""Benchmark reading context tokens from the tail of a 200 MB transcript.

Usage: .venv/bin/python bench/bench_transcript.py [--size-mb 200] [--rounds 20]

The transcript is made at run time (in a temp dir, deleted afterwards) by repeating the lines of
the real fixture transcript-1.jsonl until it reaches the size. Measured, in the same run:

* ``read_context`` (claude_code/transcript.py): ms per read, bytes read, peak memory;
* baseline A, a raw read of the same number of bytes from the end of the file (the floor);
* baseline B, what a naive reader does: ``json.loads`` of every line of the whole file (once);
* the worst case (20 MB of real lines without usage appended: the read stops at its cap),
  against a raw read of the same bytes and a ``json.loads`` of every line of them;
* the agent's read (``ClaudeReaders.transcript_context``, publisher/readers.py) of a changed
  file, which runs ``read_context`` on a thread of its own and waits for it, against
  ``read_context`` called directly: the cost of keeping reads off the publishing thread;
  and the same call on a FIFO, which is never opened (issue 12).

The bar (issue 4): bounded time and memory, i.e. independent of the file size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sessionbeat.claude_code.transcript import read_context  # noqa: E402
from sessionbeat.publisher.readers import ClaudeReaders  # noqa: E402
from sessionbeat.settings import load_settings  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "claude-code" / "transcript-1.jsonl"


def make_transcript(path: Path, size: int) -> None:
    """Write ``size`` bytes (rounded up to whole copies) of repeated real transcript lines."""
    lines = FIXTURE.read_bytes()
    with path.open("wb") as f:
        written = 0
        while written < size:
            f.write(lines)
            written += len(lines)


def non_usage_lines() -> bytes:
    """Return the fixture's lines that carry no usage and no compact boundary."""
    return b"".join(
        line
        for line in FIXTURE.read_bytes().splitlines(keepends=True)
        if b'"usage"' not in line and b"compact_boundary" not in line
    )


def agent_read(path: Path, rounds: int, state: Path) -> tuple[list[float], list[float]]:
    """Time the agent's read of a changed transcript and a direct read_context (ms each)."""
    settings = load_settings(state_dir=state, claude_config_dir=state / "claude", host="bench")
    readers = ClaudeReaders(settings)
    agent: list[float] = []
    direct: list[float] = []
    for i in range(rounds):
        os.utime(path, ns=(time.time_ns(), time.time_ns() + i))  # changed: no cached reading
        start = time.perf_counter()
        reading = readers.transcript_context(str(path), None)
        agent.append((time.perf_counter() - start) * 1000)
        assert reading is not None, path
        assert reading.context_tokens == 103_530, reading
        start = time.perf_counter()
        read_context(str(path))
        direct.append((time.perf_counter() - start) * 1000)
    return agent, direct


def fifo_read(folder: Path) -> float:
    """Time the agent's read of a FIFO nobody writes to (ms, median of 100)."""
    fifo = folder / "t.jsonl"
    os.mkfifo(fifo)
    settings = load_settings(state_dir=folder, claude_config_dir=folder / "claude", host="bench")
    readers = ClaudeReaders(settings)
    times = []
    for _ in range(100):
        start = time.perf_counter()
        assert readers.transcript_context(str(fifo), None) is None
        times.append((time.perf_counter() - start) * 1000)
    fifo.unlink()
    return statistics.median(times)


def parse_every_line(path: Path, count: int) -> int:
    """Baseline: read the last ``count`` bytes and ``json.loads`` every whole line of them."""
    with path.open("rb") as f:
        f.seek(-count, os.SEEK_END)
        lines = f.read().split(b"\n")[1:]
    parsed = 0
    for line in lines:
        try:
            json.loads(line)
            parsed += 1
        except ValueError:
            pass
    return parsed


def raw_tail(path: Path, count: int) -> int:
    """Read the last ``count`` bytes; return how many were read."""
    with path.open("rb") as f:
        f.seek(-count, os.SEEK_END)
        return len(f.read())


def main() -> None:
    """Build the file, time the three readers, print a report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    filler = non_usage_lines()
    with tempfile.TemporaryDirectory(prefix="sbb-") as tmp:
        path = Path(tmp) / "big.jsonl"
        make_transcript(path, args.size_mb * 1024 * 1024)
        size = path.stat().st_size
        ours: list[float] = []
        floor: list[float] = []
        bytes_read = 0
        for _ in range(args.rounds):
            start = time.perf_counter()
            ctx = read_context(str(path))
            ours.append((time.perf_counter() - start) * 1000)
            assert ctx is not None, path
            assert ctx.context_tokens == 103_530, ctx
            bytes_read = ctx.bytes_read
            start = time.perf_counter()
            raw_tail(path, bytes_read)
            floor.append((time.perf_counter() - start) * 1000)
        agent, direct = agent_read(path, args.rounds, Path(tmp))
        fifo_ms = fifo_read(Path(tmp)) if hasattr(os, "mkfifo") else None
        tracemalloc.start()
        read_context(str(path))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        start = time.perf_counter()
        with path.open("rb") as f:
            last = None
            for line in f:
                entry = json.loads(line)
                if entry.get("type") == "assistant":
                    last = entry
        naive = (time.perf_counter() - start) * 1000
        assert last is not None
        # Worst case: 20 MB of real non-usage lines (tool results, progress, attachments...)
        # after the last assistant entry: the read stops at its byte cap.
        with path.open("ab") as f:
            written = 0
            while written < 20 * 1024 * 1024:
                f.write(filler)
                written += len(filler)
        worst_ctx = read_context(str(path))
        assert worst_ctx is not None
        assert worst_ctx.context_tokens is None, worst_ctx
        worst_bytes = worst_ctx.bytes_read
        worst, worst_floor, worst_parse = [], [], []
        for _ in range(max(3, args.rounds // 4)):
            start = time.perf_counter()
            read_context(str(path))
            worst.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            raw_tail(path, worst_bytes)
            worst_floor.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            parse_every_line(path, worst_bytes)
            worst_parse.append((time.perf_counter() - start) * 1000)
    med, low = statistics.median(ours), statistics.median(floor)
    print(f"transcript {size / 1e6:.0f} MB ({args.rounds} rounds, medians)")
    print(
        f"read_context         {med:8.2f} ms  bytes read {bytes_read:,}  peak {peak / 1e6:.2f} MB"
    )
    print(f"raw tail read (same) {low:8.2f} ms  -> ratio {med / low:.1f} x the floor")
    print(f"naive full json scan {naive:8.0f} ms  -> read_context is {naive / med:,.0f} x faster")
    print(f"bytes read / file    {bytes_read / size:.5%}")
    w, wf, wp = (statistics.median(x) for x in (worst, worst_floor, worst_parse))
    print(f"worst case: no usage in the last 20 MB of real lines, {worst_bytes:,} bytes read")
    print(f"  read_context         {w:8.1f} ms")
    print(f"  raw read (same)      {wf:8.1f} ms  -> ratio {w / wf:.1f} x the floor")
    print(f"  json.loads each line {wp:8.1f} ms  -> read_context is {wp / w:.1f} x faster")
    a, d = statistics.median(agent), statistics.median(direct)
    print(f"agent read of a changed file (own thread) {a:6.3f} ms vs direct {d:6.3f} ms")
    if fifo_ms is not None:
        print(f"agent read of a FIFO (never opened)       {fifo_ms:6.3f} ms")


if __name__ == "__main__":
    main()
