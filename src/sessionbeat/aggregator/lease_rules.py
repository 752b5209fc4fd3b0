"""The reaper lease's decisions, pure: given the claims seen on the lease topic, who holds it.

Every aggregator watches the retained lease topic (``sessionbeat/aggregators/<group>/lease``).
The broker delivers the messages on it to every subscriber in one order, so the **last claim
received is the holder**; a zero-length message (the holder's Last Will, or its release on a
clean stop) leaves the lease vacant. :class:`LeaseBook` keeps what one aggregator saw and
answers the questions :class:`~sessionbeat.aggregator.lease.ReaperLease` asks on every tick:

* :meth:`LeaseBook.vacant`: may I claim? (no claim, or the current one went unrefreshed for
  ``stale_after`` seconds: its holder vanished without its Last Will, e.g. a broker restart);
* :meth:`LeaseBook.holding`: do I act as the holder? (the current claim is mine and has stood
  ``settle`` seconds with no newer claim);
* :meth:`LeaseBook.lost`: must I yield? (a claim newer than my own arrived).

Times are monotonic seconds (``time.monotonic``) passed in by the caller: nothing here reads a
clock, sleeps or does I/O (docs/architecture.md, "More than one aggregator").
"""

from __future__ import annotations

from dataclasses import dataclass

from sessionbeat.models import LeaseClaim

SUBSCRIBE_GRACE = 0.3
"""Seconds after the lease subscription is acknowledged with no retained claim arriving before
the lease counts as vacant (an empty retained topic sends nothing at all)."""


@dataclass(slots=True)
class LeaseBook:
    """What one aggregator knows of the lease (module docstring); not thread-safe (caller locks).

    ``settle`` (seconds) is how long a claim must stand before its claimant acts as holder;
    ``stale_after`` (seconds) is how long a claim may go without a refresh before it counts as
    abandoned; ``echo_timeout`` (seconds) is how long a claimant waits for its own claim to come
    back before it gives up the attempt.
    """

    settle: float
    stale_after: float
    echo_timeout: float
    current: LeaseClaim | None = None
    """The last claim received (None: vacant or not known yet)."""
    known: bool = False
    """True once the lease's state is known: a message arrived or the subscribe grace ran out."""
    current_since: float = 0.0
    """When the current holder (or the vacancy) began, monotonic seconds."""
    refreshed_at: float = 0.0
    """When the current claim was last received (a claim or its refresh)."""
    subscribed_at: float | None = None
    mine: str | None = None
    """The client id of my own claim in flight or held (None: I claim nothing)."""
    claimed_at: float = 0.0
    echoed: bool = False
    """True once my own claim came back from the broker."""
    lost: bool = False
    """True when a claim newer than mine arrived after mine: I must yield."""
    changes: int = 0
    """How many times the holder changed as seen here (vacancies not counted)."""

    # -- what arrives ------------------------------------------------------------------------

    def subscribed(self, now: float) -> None:
        """Note that the lease subscription was acknowledged at ``now`` (retained claims follow)."""
        self.subscribed_at = now

    def unsubscribed(self) -> None:
        """Forget the lease's state: the watching connection dropped (unknown until it is back)."""
        self.subscribed_at = None
        self.known = False
        self.current = None

    def observe(self, claim: LeaseClaim | None, now: float) -> None:
        """Take in a message on the lease topic at ``now``: a claim, or None (zero-length)."""
        self.known = True
        previous = self.current
        self.current = claim
        if claim is None:
            if previous is not None:
                self.current_since = now
            return
        self.refreshed_at = now
        if previous is None or previous.holder != claim.holder:
            self.current_since = now
            self.changes += 1
        if self.mine is not None:
            if claim.holder == self.mine:
                self.echoed = True
            elif self.echoed:
                self.lost = True  # a claim later than mine: the broker ordered it after mine

    def claim(self, holder: str, now: float) -> None:
        """Note my claim as ``holder`` (my lease connection's client id), published at ``now``."""
        self.mine = holder
        self.claimed_at = now
        self.echoed = False
        self.lost = False

    def drop(self) -> None:
        """Forget my claim: I yielded, released it, or my lease connection dropped."""
        self.mine = None
        self.echoed = False
        self.lost = False

    # -- what to do --------------------------------------------------------------------------

    def vacant(self, now: float) -> bool:
        """Return True when nobody holds the lease as far as seen at ``now``: a claim may go out.

        Unknown state (not subscribed, or within :data:`SUBSCRIBE_GRACE` of the subscription)
        is not vacant; a claim not refreshed for ``stale_after`` seconds is.
        """
        if not self.known:
            return self.subscribed_at is not None and now - self.subscribed_at >= SUBSCRIBE_GRACE
        if self.current is None:
            return True
        return now - self.refreshed_at > self.stale_after

    def holding(self, now: float) -> bool:
        """Return True when I act as the holder at ``now``.

        The current claim is mine, it has stood ``settle`` seconds with no newer claim, and it
        is not stale (my own refreshes come back).
        """
        return (
            self.mine is not None
            and self.current is not None
            and self.current.holder == self.mine
            and not self.lost
            and now - self.current_since >= self.settle
            and now - self.refreshed_at <= self.stale_after
        )

    def must_yield(self, now: float) -> bool:
        """Return True when my claim lost: a newer claim arrived, or mine never came back."""
        if self.mine is None:
            return False
        return self.lost or (not self.echoed and now - self.claimed_at > self.echo_timeout)

    def must_reclaim(self, now: float) -> bool:
        """Return True when my claim came back and the lease went vacant since.

        The Last Will of a claimant that lost the race (it died before yielding) clears the
        winner's claim: the winner publishes its claim again.
        """
        return self.mine is not None and self.echoed and self.vacant(now)

    def holder_text(self, now: float) -> str:
        """Return who holds the lease in words, for ``/healthz`` and ``sessionbeat doctor``."""
        if self.holding(now):
            return "holds the reaper lease"
        if self.mine is not None and not self.lost:
            return "claiming the reaper lease"
        if self.current is not None and not self.vacant(now):
            return f"standby, lease held by {self.current.label()}"
        return "standby, no lease holder yet"
