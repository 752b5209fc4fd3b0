"""Hook and status-line command that saves its stdin verbatim, for capturing real payloads.

Usage (as a Claude Code hook or ``statusLine`` command)::

    python hook_logger.py OUT_DIR [statusline]

Writes stdin to ``OUT_DIR/<time_ns>-<hook_event_name>.json`` (``...-statusline.json`` with the
second argument, which also prints a one-line status). Standard library only, no output for
hooks, exit status 0, so Claude Code carries on as if no hook were configured. The file name's
``time_ns`` is when this process read its input: later than the moment Claude Code started the
hook by the interpreter's start-up (a few tens of ms).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    """Save stdin under ``argv[1]``; return the exit status (0)."""
    data = sys.stdin.buffer.read()
    now = time.time_ns()
    statusline = len(argv) > 2 and argv[2] == "statusline"
    try:
        event = "statusline" if statusline else str(json.loads(data)["hook_event_name"])
    except (ValueError, KeyError, TypeError):
        event = "unparsable"
    (Path(argv[1]) / f"{now}-{event}.json").write_bytes(data)
    if statusline:
        print("hook-logger status line")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
