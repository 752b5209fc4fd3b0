"""Which process is a session's Claude Code, and whether it still runs (psutil).

A hook runs as Claude Code -> (shell) -> ``sessionbeat publish``; the hook passes its parent and
grandparent pids. Claude Code runs hooks through a shell (``sh -c``/``bash -c``, PowerShell or
``cmd`` on Windows), and a shell that ``exec``s leaves Claude Code as the direct parent. So the
ancestors are walked upwards (at most :data:`MAX_DEPTH`), shells and wrappers skipped; the first
ancestor that looks like Claude Code (named ``claude`` or ``node``/``bun``, or started as
``claude``) wins, else the first one that is not a shell. Its creation time guards
later checks against pid reuse.
"""

from __future__ import annotations

from typing import NamedTuple

import psutil

SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "dash",
        "fish",
        "ksh",
        "mksh",
        "tcsh",
        "csh",
        "busybox",
        "cmd",
        "cmd.exe",
        "powershell",
        "powershell.exe",
        "pwsh",
        "pwsh.exe",
        "bash.exe",
        "sh.exe",
        "env",
        "timeout",
        "nohup",
        "nice",
        "sessionbeat",
        "sessionbeat.exe",
    }
)
"""Process names that are never Claude Code: shells and wrappers between it and a hook."""
CLAUDE_NAMES = frozenset({"claude", "claude.exe", "node", "node.exe", "bun", "bun.exe"})
"""Names Claude Code's process has: its native binary, or the runtime of the npm package."""
NPM_PACKAGE = "@anthropic-ai/claude-code/"
"""Path part of Claude Code's npm package (``node .../@anthropic-ai/claude-code/cli.js``)."""
MAX_DEPTH = 6
"""Ancestors looked at, starting with the hook's parent."""
CREATE_TIME_TOLERANCE = 1.0
"""Seconds two readings of a process's creation time may differ and still be the same process."""


class ProcessRef(NamedTuple):
    """A process that can be told apart from a later one with the same pid.

    ``create_time`` is psutil's creation time in epoch seconds (None: unknown, then only the
    pid is checked).
    """

    pid: int
    create_time: float | None


def _chain(pid: int, depth: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.parents()[: depth - 1]]
    except psutil.Error:
        return []


def _looks_like_claude(proc: psutil.Process, name: str) -> bool:
    """Claude Code's binary or runtime by name, or launched as ``claude`` / from its npm package.

    The native build's process may be named after its version (``~/.local/share/claude/
    versions/2.1.62``) but is started as ``claude``; a path that merely contains "claude"
    (``~/.claude/hooks/x.py``) does not count.
    """
    if name in CLAUDE_NAMES:
        return True
    try:
        cmdline = proc.cmdline()
    except psutil.Error:
        return False
    if not cmdline:
        return False
    argv0 = cmdline[0].replace("\\", "/").rsplit("/", 1)[-1].lower()
    return argv0 in ("claude", "claude.exe") or any(
        NPM_PACKAGE in part.replace("\\", "/") for part in cmdline[1:3]
    )


def find_claude_process(
    ppid: int, grandparent_pid: int = 0, max_depth: int = MAX_DEPTH
) -> ProcessRef | None:
    """Return the Claude Code process above a hook, or None if no candidate runs.

    ``ppid``/``grandparent_pid`` are the hook's parent and grandparent (0 if unknown); the
    grandparent is the fallback when the parent (a short-lived shell) is already gone. At most
    ``max_depth`` processes are looked at, from ``ppid`` up. pid 1 (init, launchd) is never a
    candidate.
    """
    chain = _chain(ppid, max_depth) if ppid > 1 else []
    if not chain and grandparent_pid > 1:
        chain = _chain(grandparent_pid, max_depth)
    first_other: psutil.Process | None = None
    for proc in chain:
        if proc.pid <= 1:
            break
        try:
            name = proc.name().lower()
        except psutil.Error:
            continue
        if name in SHELLS:
            continue
        if _looks_like_claude(proc, name):
            return _ref(proc)
        if first_other is None:
            first_other = proc
    return _ref(first_other) if first_other is not None else None


def _ref(proc: psutil.Process) -> ProcessRef | None:
    try:
        return ProcessRef(proc.pid, proc.create_time())
    except psutil.Error:
        return None


def is_alive(ref: ProcessRef) -> bool:
    """Return True if ``ref.pid`` runs (not a zombie) and, when known, has the same start time."""
    try:
        proc = psutil.Process(ref.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return (
            ref.create_time is None
            or abs(proc.create_time() - ref.create_time) < CREATE_TIME_TOLERANCE
        )
    except psutil.Error:
        return False


def create_time_of(pid: int) -> float | None:
    """Return the creation time of ``pid`` in epoch seconds, or None if it does not run."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
