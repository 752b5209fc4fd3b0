"""CPython's garbage collector tuned for the aggregator process (freeze, higher thresholds)."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 20, 50)
"""Collector thresholds of the aggregator process (CPython's defaults: 700, 10, 10)."""


def tune_gc() -> None:
    """Tune CPython's garbage collector for a process that holds a large, long-lived state.

    A cold start creates about nine GC-tracked objects per retained session that all survive;
    with the default thresholds the young-generation collections that move them along, and the
    full collections that rescan every import-time object of FastAPI and pydantic, took about
    13 % of a 10,000-session rebuild (bench/README.md). This freezes what exists now (it is
    never rescanned; call it after the imports) and collects the young generation every
    :data:`GC_THRESHOLDS` allocations instead of 700. Process-wide: the ``aggregator`` command
    and the benchmarks call it; a library user decides for their own process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
