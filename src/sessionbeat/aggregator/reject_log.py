"""The aggregator's log of rejected messages: bounded whatever the hosts send.

One line per bad host does not scale: a thousand misconfigured hosts (or one host inventing a
thousand sessions over its limit) would write a thousand WARNING lines. So
:class:`RejectLog` writes the first reject of each (reason, origin) at WARNING while a global
budget lasts (:data:`WARNINGS_PER_WINDOW` lines per :data:`WINDOW_SECONDS`), holds back the
rest (repeats go to DEBUG, as before) and writes one summary line per window of what it held
back. When an origin whose messages were rejected has one accepted again, that recovery is
logged once at INFO (within the same budget), and a later relapse is warned about again.
Every reject is counted in ``sessionbeat_messages_rejected_total`` regardless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from sessionbeat.errors import RejectReason

WARNINGS_PER_WINDOW = 20
"""Warnings and recovery lines written per window at most (docs/architecture.md, "Limits")."""
WINDOW_SECONDS = 60.0
"""Length of one budget window; the summary of what was held back comes once per window."""
MAX_ORIGINS = 10_000
"""Origins (hosts, or topics that name none) remembered; beyond this, rejects log at DEBUG."""


class RejectLog:
    """Log rejected messages with a global budget, a periodic summary and recoveries.

    ``logger`` receives the lines; ``clock`` returns monotonic seconds (tests inject one).
    Thread-safe: the MQTT thread reports rejects and accepts, the reaper calls :meth:`tick`.
    An origin is the host a topic names, or the (cut) topic when it names none.
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        per_window: int = WARNINGS_PER_WINDOW,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_origins: int = MAX_ORIGINS,
    ) -> None:
        self.log = logger
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self.max_origins = max_origins
        self._lock = threading.Lock()
        self._warned: set[tuple[RejectReason, str]] = set()
        self._troubled: dict[str, Counter[RejectReason]] = {}
        self._window_start = clock()
        self._written = 0
        self._held: Counter[RejectReason] = Counter()
        self._held_origins: dict[RejectReason, set[str]] = {}
        self._held_recoveries = 0

    @property
    def troubled(self) -> bool:
        """True while some origin has rejects not yet followed by an accepted message."""
        return bool(self._troubled)

    def _spend(self) -> bool:
        """Take one line from the window's budget (caller holds the lock); False if none is left."""
        if self.clock() - self._window_start >= self.window:
            self._summarize_locked()
        if self._written >= self.per_window:
            return False
        self._written += 1
        return True

    def rejected(self, origin: str, reason: RejectReason, topic: str, detail: str | None) -> None:
        """Log one rejected message on ``topic`` from ``origin`` with its ``reason`` and detail.

        The first of each (reason, origin) goes to WARNING while the window's budget lasts, else
        it is held back for the summary; repeats go to DEBUG.
        """
        key = (reason, origin)
        with self._lock:
            reasons = self._troubled.get(origin)
            if reasons is None and len(self._troubled) < self.max_origins:
                reasons = self._troubled[origin] = Counter()
            if reasons is not None:
                reasons[reason] += 1
            first = key not in self._warned and len(self._warned) < self.max_origins
            if first:
                self._warned.add(key)
            level = logging.DEBUG
            if first:
                if self._spend():
                    level = logging.WARNING
                else:
                    self._held[reason] += 1
                    self._held_origins.setdefault(reason, set()).add(origin)
        self.log.log(
            level,
            "rejected a message on %s: %s (%s)%s",
            topic[:200],
            reason.value,
            detail,
            "; further ones like it are logged at DEBUG" if level == logging.WARNING else "",
        )

    def accepted(self, origin: str) -> None:
        """Note an accepted message from ``origin``: log its recovery once if it had rejects."""
        with self._lock:
            reasons = self._troubled.pop(origin, None)
            if reasons is None:
                return
            for reason in reasons:
                self._warned.discard((reason, origin))
            write = self._spend()
            if not write:
                self._held_recoveries += 1
        if write:
            summary = ", ".join(f"{r.value} {n}" for r, n in sorted(reasons.items()))
            self.log.info(
                "messages from %s are accepted again (rejected before: %s)", origin, summary
            )

    def tick(self) -> None:
        """Write the summary if the window is over (the reaper calls this about once a second)."""
        with self._lock:
            if self.clock() - self._window_start >= self.window:
                self._summarize_locked()

    def summarize(self) -> None:
        """Write one WARNING line of what was held back since the last one, and start a window."""
        with self._lock:
            self._summarize_locked()

    def _summarize_locked(self) -> None:
        held, recoveries = self._held, self._held_recoveries
        if held or recoveries:
            parts = []
            for reason, n in sorted(held.items()):
                origins = len(self._held_origins[reason])
                parts.append(f"{reason.value} {n} from {origins} origin{'s' * (origins != 1)}")
            if recoveries:
                parts.append(f"{recoveries} recoveries")
            self.log.warning(
                "held back %d log lines about rejected messages in the last %.0f s: %s",
                sum(held.values()) + recoveries,
                self.clock() - self._window_start,
                ", ".join(parts),
            )
        self._window_start = self.clock()
        self._written = 0
        self._held = Counter()
        self._held_origins = {}
        self._held_recoveries = 0
