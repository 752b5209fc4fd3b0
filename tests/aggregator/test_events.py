"""The change feed between the MQTT thread and /events readers: coalescing and wake-ups."""

from __future__ import annotations

import asyncio
import threading

from sessionbeat.aggregator.events import ChangeFeed


def test_changes_coalesce_per_key_in_arrival_order() -> None:
    """Repeated changes of one session between two reads are delivered once, latest last."""

    async def scenario() -> dict[object, str | None]:
        feed = ChangeFeed()
        sub = feed.subscribe(asyncio.get_running_loop())
        feed.push(("h", "a"))
        feed.push(("h", "b"))
        feed.push(("h", "a"))
        feed.push("h")
        feed.push(("h", "b"), "ended")
        return dict(await sub.next_batch(1))

    batch = asyncio.run(scenario())
    assert list(batch.items()) == [(("h", "a"), None), ("h", None), (("h", "b"), "ended")]


def test_push_from_another_thread_wakes_the_reader() -> None:
    """A push from a non-loop thread (paho's) wakes a waiting reader."""

    async def scenario() -> dict[object, str | None]:
        feed = ChangeFeed()
        sub = feed.subscribe(asyncio.get_running_loop())
        threading.Thread(target=feed.push, args=(("h", "x"),)).start()
        return dict(await sub.next_batch(30))

    assert asyncio.run(scenario()) == {("h", "x"): None}


def test_unsubscribed_and_closed_readers_get_nothing() -> None:
    """After unsubscribe nothing is queued; close() ends a subscription and clears active."""

    async def scenario() -> tuple[bool, bool, dict[object, str | None], bool]:
        feed = ChangeFeed()
        loop = asyncio.get_running_loop()
        gone = feed.subscribe(loop)
        kept = feed.subscribe(loop)
        feed.unsubscribe(gone)
        feed.push(("h", "x"))
        feed.close()
        return feed.active, kept.closed, gone.pending, bool(await kept.next_batch(1))

    active, closed, pending, had_batch = asyncio.run(scenario())
    assert (active, closed, pending, had_batch) == (False, True, {}, True)
