"""The writer of the agent's status file, ``<state_dir>/agent-status.json``.

``sessionbeat agent status`` and ``doctor`` read it (:func:`sessionbeat.publisher.agent_files.
read_status`); the agent's worker (:mod:`sessionbeat.publisher.worker`) hands it the status
after every event and tick, and it is written only when something in it changed, or every
:data:`STATUS_REFRESH` seconds for its time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sessionbeat.publisher.agent_files import STATUS_FILE

STATUS_REFRESH = 30.0
"""Seconds after which ``agent-status.json`` is rewritten even if nothing in it changed."""


class StatusFile:
    """Writes ``<state_dir>/agent-status.json`` atomically, and only when it says something new.

    Takes the state dir and a clock returning aware UTC datetimes (for ``updated_at``).
    """

    def __init__(self, state_dir: Path, clock: Callable[[], datetime]) -> None:
        self.state_dir = state_dir
        self.clock = clock
        self._written: dict[str, object] = {}
        self._time = 0.0

    def write(self, status: dict[str, object]) -> None:
        """Write ``status`` (a JSON object) plus ``updated_at`` if it changed (or every 30 s).

        Writing an unchanged file every second was most of the idle agent's CPU time. A failure
        to write is ignored (the next change tries again).
        """
        now = time.monotonic()
        if status == self._written and now - self._time < STATUS_REFRESH:
            return
        self._written, self._time = dict(status), now
        status["updated_at"] = self.clock().isoformat()
        try:
            tmp = self.state_dir / f"{STATUS_FILE}.tmp"
            tmp.write_text(json.dumps(status, indent=1))
            tmp.replace(self.state_dir / STATUS_FILE)
        except OSError:
            pass
