"""The agent's files as other commands read them: its pid file, its status file, its script.

The agent (:mod:`sessionbeat.publisher.agent`) writes ``<state_dir>/agent.pid`` while it runs
and ``<state_dir>/agent-status.json`` (:mod:`sessionbeat.publisher.status_file`) when its state
changes (at least every 30 s); ``agent status``, ``doctor`` and ``up`` read them here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from sessionbeat.errors import NotFoundError
from sessionbeat.settings import Settings

PID_FILE = "agent.pid"
"""The running agent's pid, in the state dir (removed when it stops)."""
STATUS_FILE = "agent-status.json"
"""The agent's last status (broker connection, live sessions, spool), in the state dir."""


def console_script() -> Path:
    """Return the absolute path of the installed ``sessionbeat`` script (next to Python)."""
    candidate = Path(sys.executable).parent / (
        "sessionbeat.exe" if os.name == "nt" else "sessionbeat"
    )
    if candidate.exists():
        return candidate
    found = shutil.which("sessionbeat")
    if found:
        return Path(found).resolve()
    raise NotFoundError("the sessionbeat console script is not installed next to this Python")


def agent_pid(settings: Settings) -> int | None:
    """Return the pid of the running agent for ``settings.state_dir``, or None."""
    import psutil

    try:
        pid = int((settings.state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if psutil.pid_exists(pid) else None


def read_status(settings: Settings) -> dict[str, object] | None:
    """Return the agent's last status file (written when it changes, at least every 30 s)."""
    try:
        data = json.loads((settings.state_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
