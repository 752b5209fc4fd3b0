"""The agent's birth/death sequence number (Sparkplug B ``bdseq``), persisted across restarts.

The host agent (:mod:`sessionbeat.publisher.link`) increments it before every CONNECT and puts
it in its retained Last Will and birth on ``sessionbeat/v1/<host>/status``, and in every beat,
so the aggregator can tell one connection of the agent from the next.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


class BdseqCounter:
    """The birth/death sequence number, persisted in ``<state_dir>/bdseq``.

    A missing file starts at 0; an unreadable one (not a non-negative number, or a read error)
    too, and says so once in the log. A failure to persist is logged once.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.value = -1
        self._logged_write = False
        try:
            text = path.read_text()
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("cannot read bdseq from %s (%s): starting again from 0", path, exc)
            return
        try:
            value = int(text.strip())
        except ValueError:
            value = -1
        if value < 0:
            log.warning("cannot read bdseq from %s (%r): starting again from 0", path, text[:40])
            return
        self.value = value

    def next(self) -> int:
        """Increment, persist (best effort) and return the new value."""
        self.value += 1
        try:
            self.path.write_text(f"{self.value}\n")
            self._logged_write = False
        except OSError as exc:
            if not self._logged_write:
                log.warning("cannot persist bdseq in %s: %s", self.path, exc)
                self._logged_write = True
        return self.value
