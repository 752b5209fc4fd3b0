"""The reaped sessions waiting in memory for the history to be writable (bounded, oldest first).

:class:`~sessionbeat.aggregator.history.History` queues every entry here first and writes from
here, so an entry it cannot write (full disk, unwritable directory, a corrupt file that cannot be
moved aside) is kept until it can. Beyond ``max_entries`` the oldest entries are dropped: counted
in :attr:`Backlog.dropped` and logged at ERROR the first time after each recovery.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

from sessionbeat.aggregator.history_schema import to_row
from sessionbeat.models import HistoryEntry

log = logging.getLogger("sessionbeat.aggregator.history")

Row = dict[str, Any]
"""One ``reaped_sessions`` row keyed by column (see
:func:`~sessionbeat.aggregator.history_schema.to_row`): its JSON is built once, when queued."""


class Backlog:
    """Up to ``max_entries`` history entries with their rows, oldest first; not thread-safe."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.dropped = 0
        """Entries dropped because the backlog was full (never written)."""
        self._items: deque[tuple[HistoryEntry, Row]] = deque()
        self._drop_logged = False

    def __len__(self) -> int:
        """Return how many entries wait."""
        return len(self._items)

    def extend(self, entries: Iterable[HistoryEntry]) -> None:
        """Queue ``entries`` (newest last), dropping the oldest beyond ``max_entries``."""
        self._items.extend((e, to_row(e)) for e in entries)
        over = len(self._items) - self.max_entries
        if over <= 0:
            return
        for _ in range(over):
            self._items.popleft()
        self.dropped += over
        log.log(
            logging.DEBUG if self._drop_logged else logging.ERROR,
            "history backlog full (%d reaped sessions wait in memory): dropped the %d oldest, "
            "%d in all",
            self.max_entries,
            over,
            self.dropped,
        )
        self._drop_logged = True

    def head(self, n: int) -> list[Row]:
        """Return the rows of the ``n`` oldest entries (fewer if fewer wait)."""
        return [row for _, row in list(self._items)[:n]]

    def pop(self, n: int) -> None:
        """Remove the ``n`` oldest entries (once written)."""
        for _ in range(min(n, len(self._items))):
            self._items.popleft()

    def find(self, session_id: str, host: str | None) -> HistoryEntry | None:
        """Return the newest waiting entry of ``session_id`` (on ``host`` if given), or None."""
        for entry, _ in reversed(self._items):
            if entry.session_id == session_id and (host is None or entry.host == host):
                return entry
        return None

    def recovered(self) -> None:
        """Note that the history works again: the next drop is logged at ERROR again."""
        self._drop_logged = False
