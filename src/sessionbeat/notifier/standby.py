"""Deliveries only from the aggregator that holds the reaper lease; the others stand by.

With two or more aggregators on one broker, each runs the notifier's rules on the same changes
(so each knows what was sent and what is pending), but only the holder of the reaper lease
delivers (docs/architecture.md, "More than one aggregator"). :class:`Standby` routes each
delivery the rules decide on:

* this aggregator holds the lease: deliver now;
* another aggregator holds it: drop (the holder delivers the same batch, same id);
* nobody holds it (the holder died and its Last Will cleared the lease; a standby is taking
  over): hold it back, deliver it once this aggregator holds the lease, drop it if another does.

So a handover neither loses nor repeats an approval push, except one falling due while the old
holder was already dead but its lease not yet cleared (at most 1.5 x ``lease_keepalive``): it
is dropped, as the holder seemed alive (the known gap, docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

MAX_HELD_BACK = 1_000
"""Deliveries held back at most while nobody holds the lease (the oldest go first)."""


class Route(StrEnum):
    """What to do with a delivery now."""

    DELIVER = "deliver"
    DROP = "drop"
    HOLD = "hold"


class Standby:
    """Route deliveries by the lease (module docstring); used on the notifier thread only.

    ``lease`` returns True while this aggregator holds the reaper lease, False while another
    does, None while nobody does; None (no lease: a lone aggregator) always delivers.
    """

    def __init__(self, lease: Callable[[], bool | None] | None = None) -> None:
        self.lease = lease
        self.held_back: list[Callable[[], None]] = []
        self.dropped = 0
        """Deliveries dropped because another aggregator held the lease."""

    def route(self) -> Route:
        """Return what to do with a delivery decided now."""
        if self.lease is None:
            return Route.DELIVER
        held = self.lease()
        if held is None:
            return Route.HOLD
        return Route.DELIVER if held else Route.DROP

    def submit(self, deliver: Callable[[], None]) -> None:
        """Run ``deliver`` now, keep it for later, or drop it, by :meth:`route`."""
        route = self.route()
        if route is Route.DELIVER:
            deliver()
        elif route is Route.HOLD:
            self.held_back.append(deliver)
            del self.held_back[:-MAX_HELD_BACK]
        else:
            self.dropped += 1

    def settle(self) -> None:
        """Deliver what was held back once this aggregator holds the lease; drop it if another."""
        if not self.held_back:
            return
        route = self.route()
        if route is Route.HOLD:
            return
        waiting, self.held_back = self.held_back, []
        if route is Route.DELIVER:
            for deliver in waiting:
                deliver()
        else:
            self.dropped += len(waiting)
