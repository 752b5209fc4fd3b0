"""Which process is a session's Claude Code, and whether it still runs (psutil).

A hook runs as Claude Code -> (shell) -> ``sessionbeat publish``; the hook passes its parent and
grandparent pids. The Claude Code process is the nearest ancestor that is not a shell (Claude
Code runs hooks through ``sh -c``; a shell that ``exec``s leaves Claude as the direct parent).
Its creation time guards later checks against pid reuse.
"""

from __future__ import annotations

import psutil

SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "fish",
        "ksh",
        "tcsh",
        "csh",
        "busybox",
        "cmd.exe",
        "powershell.exe",
        "pwsh",
        "pwsh.exe",
        "sessionbeat",
        "env",
        "timeout",
        "nohup",
    }
)
MAX_DEPTH = 6


def _chain(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.parents()[: MAX_DEPTH - 1]]
    except psutil.Error:
        return []


def find_claude_process(ppid: int, gppid: int = 0) -> tuple[int, float] | None:
    """Return ``(pid, create_time)`` of the Claude Code process above a hook, or None.

    ``ppid``/``gppid`` are the hook's parent and grandparent (0 if unknown); create_time is in
    epoch seconds.
    """
    chain = _chain(ppid) if ppid > 1 else []
    if not chain and gppid > 1:
        chain = _chain(gppid)
    chain = [p for p in chain if p.pid > 1]
    if not chain:
        return None
    for proc in chain:
        try:
            if proc.name().lower() not in SHELLS:
                return proc.pid, proc.create_time()
        except psutil.Error:
            continue
    return None


def is_alive(pid: int, create_time: float | None) -> bool:
    """Return True if ``pid`` runs and (when known) was created at ``create_time``."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(proc.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def create_time_of(pid: int) -> float | None:
    """Return the creation time of ``pid`` in epoch seconds, or None if it does not run."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
