"""The overview cache: slow builds move off the request path, within a bounded staleness."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sessionbeat.aggregator.overview import OverviewCache, build_overview
from sessionbeat.aggregator.state import AggregatorState, apply
from sessionbeat.models import Overview
from tests.aggregator.support import T0, beat
from tests.aggregator.support import beat_message as _msg
from tests.procs import wait_until


class World:
    """A state, a hand-moved clock, and a build that can be held back by the test."""

    def __init__(self) -> None:
        self.state = AggregatorState()
        self.now = T0
        self.release = threading.Event()
        self.release.set()

    def clock(self) -> datetime:
        return self.now

    def build(self, limit: int) -> Overview:
        self.release.wait(10)
        return build_overview(self.state, self.now, True, limit)

    def add(self, sid: str) -> None:
        apply(self.state, _msg(beat("h1", sid, sent_at=self.now)), self.now)


def test_a_slow_build_is_redone_in_the_background_while_the_old_bytes_serve() -> None:
    """Past the bound, a reader gets the last bytes at once; the next one gets the new ones."""
    w = World()
    cache = OverviewCache(w.build, lambda: w.state.index.version, w.clock, background_after=0.0)
    w.add("a")
    first = cache.get()
    w.add("b")
    w.now += timedelta(seconds=0.6)  # past min_interval with a changed state
    w.release.clear()  # the rebuild cannot finish until the test lets it
    assert cache.get() == first  # no wait: the old bytes, a rebuild started
    w.release.set()
    wait_until(lambda: cache.builds == 2, what="the background build")
    assert b'"b"' in cache.get()


def test_bytes_older_than_the_stale_limit_are_never_served() -> None:
    """After a quiet spell the reader waits for a fresh build instead of old bytes."""
    w = World()
    cache = OverviewCache(w.build, lambda: w.state.index.version, w.clock, background_after=0.0)
    w.add("a")
    cache.get()
    w.add("b")
    w.now += timedelta(seconds=5)
    assert b'"b"' in cache.get()
    assert cache.builds == 2


def test_fast_builds_stay_on_the_request_path() -> None:
    """Builds under the threshold: the reader gets the change as soon as the bound allows."""
    w = World()
    cache = OverviewCache(w.build, lambda: w.state.index.version, w.clock, background_after=60.0)
    w.add("a")
    cache.get()
    w.add("b")
    w.now += timedelta(seconds=0.6)
    assert b'"b"' in cache.get()
