"""What the aggregator takes from the senders' clocks, and what it does not (pure, no I/O).

A host's wall clock may be wrong by hours or step back (docs/architecture.md, "Order and time").
So the aggregator orders the beats of a session by the agent's own counters
(:func:`is_newer`), ages a retained replay by the broker's Message Expiry rather than by
``sent_at`` (:func:`retained_age`), and measures each host's clock against its own
(:class:`ClockSkew`) to report it, never to correct anything with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sessionbeat.models import SessionBeat

SKEW_WINDOW = timedelta(seconds=60)
"""Length of one window of :class:`ClockSkew` (aggregator clock); the estimate spans two."""
SKEW_SAMPLE_INTERVAL = timedelta(seconds=1)
"""A host's messages give at most one skew sample per this interval (see :class:`ClockSkew`)."""


def is_newer(beat: SessionBeat, known: SessionBeat, host_bdseq: int | None) -> bool:
    """Return True if ``beat`` is a later state of the session than ``known`` (the one applied).

    ``host_bdseq`` is the ``bdseq`` of the host's last accepted status message (None if none).
    The order, none of it read from a wall clock:

    * ``bdseq`` first: the agent's birth epoch when it built the beat (it increments on every
      MQTT CONNECT and is persisted); a later epoch wins whatever its ``seq``. If the known
      beat's epoch is more than one above the host's last status, the agent's counter was reset
      (its state dir lost) and any other epoch is newer;
    * then ``seq``, the session's beat counter, which survives agent restarts;
    * a lower ``seq`` in the same epoch is newer only with a later ``started_at``: a session the
      agent forgot and saw again (``claude --resume``) counts from 1, a replay keeps its start.

    A beat without ``bdseq`` (an agent of 0.1.0) is ordered as before, by ``(sent_at, seq)``
    on the host's clock; one with ``bdseq`` over a known one without wins (an upgraded agent).
    Equal beats are not newer (a duplicate is never applied twice).
    """
    epoch = beat.bdseq
    if epoch is None:
        return (beat.sent_at, beat.seq) > (known.sent_at, known.seq)
    known_epoch = known.bdseq
    if known_epoch is None:
        return True
    if epoch != known_epoch:
        if host_bdseq is not None and known_epoch > host_bdseq + 1:
            return True
        return epoch > known_epoch
    if beat.seq > known.seq:
        return True
    return (
        beat.started_at is not None
        and known.started_at is not None
        and beat.started_at > known.started_at
    )


def retained_age(expiry_left: float | None, reap_after: float) -> float:
    """Return how long (seconds) the broker has held a retained beat, from its Message Expiry.

    ``expiry_left`` is the Message Expiry Interval the broker delivered (MQTT 5 section
    3.3.2.3.3: the interval the publisher set minus the time the message waited in the
    server; Mosquitto sends it for retained messages too), None if the message has none.
    Agents set it to ``reap_after``, so the age is ``reap_after - expiry_left``, between 0 and
    ``reap_after``; without an expiry the age is unknown and taken as 0 (it ages from receipt).
    This assumes the agents' ``reap_after`` is the aggregator's (both default to 1800 s).
    """
    if expiry_left is None:
        return 0.0
    return min(reap_after, max(0.0, reap_after - expiry_left))


@dataclass(slots=True)
class ClockSkew:
    """One host's clock minus the aggregator's, in seconds (positive: the host is ahead).

    Each live message gives a sample ``sent_at - received_at``: the skew minus the time the
    message travelled, which is never negative. So the least delayed sample is the best one (the
    minimum-delay filter of NTP, RFC 5905 section 10): the estimate is the largest sample of the
    current and the previous :data:`SKEW_WINDOW`, which a replayed spool (sent long before)
    cannot pull down and which follows a clock step within two windows. Retained messages are
    not samples: their delay is unknown. The caller takes at most one sample per
    :data:`SKEW_SAMPLE_INTERVAL` (:attr:`due`): subtracting a parsed ``sent_at`` (pydantic's
    own UTC tzinfo) from the aggregator's time costs ~0.5 us, a tenth of the ingest path.
    """

    current: float | None = None
    previous: float | None = None
    window_start: datetime | None = None
    due: datetime | None = None

    def observe(self, sent_at: datetime, received_at: datetime) -> None:
        """Take one live message's ``sent_at`` (host clock) and receive time (ours).

        Sets :attr:`due`, the receive time from which the next sample is wanted.
        """
        self.due = received_at + SKEW_SAMPLE_INTERVAL
        sample = (sent_at - received_at).total_seconds()
        start = self.window_start
        if start is None or received_at - start >= SKEW_WINDOW:
            recent = start is not None and received_at - start < 2 * SKEW_WINDOW
            self.previous = self.current if recent else None
            self.current = sample
            self.window_start = received_at
        elif self.current is None or sample > self.current:
            self.current = sample

    @property
    def seconds(self) -> float | None:
        """Return the estimate in seconds, or None before the first live message."""
        if self.current is None:
            return None
        if self.previous is None:
            return self.current
        return max(self.current, self.previous)
