"""Change notices from the MQTT thread to the ``GET /events`` readers (asyncio), coalesced.

The ingest path must stay cheap (it runs once per MQTT message on paho's thread), so it only
records *which* session or host changed; each reader renders the current state of what changed
when it wakes up. Changes to the same session between two deliveries therefore merge into one
event carrying the latest state, and a slow reader can never make the aggregator buffer more
than one pending entry per session and host.

Thread model: :meth:`ChangeFeed.push` may be called from any thread (the caller holds the
service's state lock); :meth:`Subscription.next_batch` is awaited on the reader's event loop.
The loop is woken with ``call_soon_threadsafe`` only when a subscription goes from empty to
non-empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Protocol

from sessionbeat.aggregator.state import SessionKey

HostKey = str
"""A host id: a change to a host's status."""

ChangeKey = SessionKey | HostKey
"""What changed: ``(host, session_id)`` for a session, a plain host id for a host."""


@dataclass(eq=False)
class Subscription:
    """One reader's pending changes: keys in arrival order, each with a removal reason or None.

    ``reason`` is set when the change is a removal (``ended``, ``expired``, ``cleared``); the
    reader decides at render time whether the session still exists.
    """

    loop: asyncio.AbstractEventLoop
    pending: dict[ChangeKey, str | None] = field(default_factory=dict)
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _signalled: bool = False

    def push(self, key: ChangeKey, reason: str | None = None) -> None:
        """Record a change (any thread); wakes the reader if it had nothing pending."""
        with self._lock:
            self.pending.pop(key, None)  # move to the end: keep arrival order
            self.pending[key] = reason
            wake = not self._signalled
            self._signalled = True
        if wake:
            self._wake()

    def close(self) -> None:
        """End the subscription (any thread): the reader's next wait returns at once."""
        with self._lock:
            self.closed = True
        self._wake()

    def _wake(self) -> None:
        # The loop may already be closed when the server shut down first.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._wakeup.set)

    async def next_batch(self, timeout: float) -> dict[ChangeKey, str | None]:
        """Wait up to ``timeout`` seconds for changes; return and forget them (may be empty).

        Must be awaited on the subscription's own event loop.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        with self._lock:
            batch, self.pending = self.pending, {}
            self._signalled = False
            self._wakeup.clear()
        return batch


class ChangeSink(Protocol):
    """Anything fed with changes: a :class:`Subscription`, or the notifier.

    ``push`` is called on the ingest thread under the aggregator's lock: it must be cheap and
    never block; ``close`` is called once when the aggregator stops.
    """

    def push(self, key: ChangeKey, reason: str | None = None) -> None:
        """Record that ``key`` changed (``reason`` set for a removal)."""

    def close(self) -> None:
        """End the feed: the aggregator stops."""


class ChangeFeed:
    """The set of live subscriptions; :attr:`active` is a cheap check for the ingest path."""

    def __init__(self) -> None:
        self._subscriptions: list[ChangeSink] = []
        self._lock = threading.Lock()
        self.active = False

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscription:
        """Add a reader living on ``loop`` and return its subscription."""
        sub = Subscription(loop)
        with self._lock:
            self._subscriptions = [*self._subscriptions, sub]
            self.active = True
        return sub

    def attach(self, sink: ChangeSink) -> None:
        """Feed ``sink`` every change from now on, as the ``GET /events`` readers are fed."""
        with self._lock:
            self._subscriptions = [*self._subscriptions, sink]
            self.active = True

    def unsubscribe(self, sub: ChangeSink) -> None:
        """Remove a reader (safe to call twice)."""
        with self._lock:
            self._subscriptions = [s for s in self._subscriptions if s is not sub]
            self.active = bool(self._subscriptions)

    def push(self, key: ChangeKey, reason: str | None = None) -> None:
        """Tell every reader that ``key`` changed (``reason`` set for a removal)."""
        for sub in self._subscriptions:
            sub.push(key, reason)

    def close(self) -> None:
        """Close every subscription (service shutdown)."""
        with self._lock:
            subs, self._subscriptions = self._subscriptions, []
            self.active = False
        for sub in subs:
            sub.close()

    def __len__(self) -> int:
        return len(self._subscriptions)
