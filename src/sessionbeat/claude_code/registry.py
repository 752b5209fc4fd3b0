"""Claude Code's own registry of live sessions: ``<config dir>/sessions/<pid>.json``.

Undocumented, present since ~2.1.139 (docs/claude-code-formats.md section 7). Fields seen:
``pid, sessionId, cwd, startedAt, procStart, version, kind, entrypoint, status
(idle|busy|waiting|shell), statusUpdatedAt, updatedAt, name`` (later also ``pidDomain``,
``messagingSocketPath``, ``peerProtocol``; herdrdev/herdr#3414). Claude Code 2.1.328 also writes
``waitingFor`` (``"permission prompt"``) while it waits and ``tmux`` (``"main:@0.%0"``:
session, window id, pane id) inside tmux (tests/fixtures/claude-code/real-2.1.328). It rewrites
the file in place the moment the status changes; ``statusUpdatedAt`` is that moment (epoch ms).

Parsed leniently and gated like herdr does: only ``<digits>.json`` files that carry both a
``status`` and a ``procStart`` key count. That skips the legacy ``pid-<n>.json`` generation
(``session_id``/``cwd`` only, all orphans) and SDK sessions, which never write ``status``.

``procStart`` guards against pid reuse. Its form depends on the platform Claude Code runs on:

* Linux: field 22 of ``/proc/<pid>/stat`` verbatim (``starttime``, clock ticks since boot), a
  string of digits (herdrdev/herdr#3414: matched 14 of 14 live sessions). Compared exactly.
* macOS: ``ps -o lstart=`` of the process under ``LC_ALL=C TZ=UTC``, e.g.
  ``"Mon Aug 17 05:43:19 2026"`` (realiti4/claude-swap#299, mjjo16/marmonitor#71: equal to the
  process start to the second). Compared with psutil's ``create_time`` to within a second.
* Anything else (Windows, a form not seen yet): the process only has to exist.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

LSTART_FORMAT = "%a %b %d %H:%M:%S %Y"
"""``ps -o lstart`` in the C locale (day of month space-padded; whitespace is normalised)."""
LSTART_TOLERANCE = 1.5
"""Seconds between ``lstart`` (whole seconds) and psutil's ``create_time`` still the same start."""


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One registry file of Claude Code (times are aware UTC datetimes, None if absent).

    ``status`` is the raw word (``busy``, ``waiting``, ``idle``, ``shell``, or a future one),
    None if the key is null or not a string. ``status_at`` is ``statusUpdatedAt`` alone (when
    the word changed).
    ``proc_start`` is ``procStart`` as written (see the module doc for its forms).
    """

    pid: int
    session_id: str
    status: str | None
    proc_start: str | None
    cwd: str | None
    started_at: datetime | None
    name: str | None
    version: str | None
    entrypoint: str | None = None
    status_at: datetime | None = None
    waiting_for: str | None = None
    tmux: str | None = None


def _time(value: Any) -> datetime | None:
    """Return an epoch (ms or s) or ISO 8601 value as an aware UTC datetime, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        try:
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_entry(data: Any, pid_from_name: int) -> RegistryEntry | None:
    """Return the entry of one registry document, or None if it does not pass the gate.

    ``data`` is the parsed JSON; ``pid_from_name`` the pid of the file name (used when the
    document's own ``pid`` is missing). The gate: a JSON object with a ``sessionId`` string and
    both ``status`` and ``procStart`` keys.
    """
    if not isinstance(data, dict) or not _str(data.get("sessionId")):
        return None
    if "status" not in data or "procStart" not in data:
        return None
    pid = data.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        pid = pid_from_name
    proc_start = data.get("procStart")
    return RegistryEntry(
        pid=pid,
        session_id=data["sessionId"],
        status=_str(data.get("status")),
        proc_start=(
            str(proc_start)
            if isinstance(proc_start, int | str) and not isinstance(proc_start, bool)
            else None
        ),
        cwd=_str(data.get("cwd")),
        started_at=_time(data.get("startedAt")),
        name=_str(data.get("name")),
        version=_str(data.get("version")),
        entrypoint=_str(data.get("entrypoint")),
        status_at=_time(data.get("statusUpdatedAt")),
        waiting_for=_str(data.get("waitingFor")),
        tmux=_str(data.get("tmux")),
    )


def scan_registry(claude_config_dir: Path) -> list[RegistryEntry]:
    """Return the entries in ``<claude_config_dir>/sessions/``, ordered by pid.

    Files that cannot be read or parsed (Claude Code may be rewriting one) are skipped until
    the next scan; a missing directory gives ``[]``. Never raises.
    """
    directory = claude_config_dir / "sessions"
    try:
        paths = [p for p in directory.glob("*.json") if p.stem.isdigit()]
    except OSError:
        return []
    entries = []
    for path in paths:
        try:
            entry = parse_entry(json.loads(path.read_bytes()), int(path.stem))
        except (OSError, ValueError):
            continue
        if entry is not None:
            entries.append(entry)
    return sorted(entries, key=lambda e: e.pid)


def linux_proc_start(pid: int) -> str | None:
    """Return field 22 of ``/proc/<pid>/stat`` (process start, clock ticks), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def lstart_epoch(proc_start: str) -> float | None:
    """Return the epoch seconds of a ``ps -o lstart`` string in UTC, or None if it is not one."""
    try:
        parsed = datetime.strptime(" ".join(proc_start.split()), LSTART_FORMAT)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC).timestamp()


def proc_start_matches(pid: int, proc_start: str | None) -> bool | None:
    """Return whether the process ``pid`` started at ``proc_start``; None if not checkable.

    Linux tick counts are compared with ``/proc/<pid>/stat``; ``lstart`` strings with psutil's
    ``create_time`` (any platform). None: no ``procStart``, an unknown form, or a tick count
    on a system without ``/proc``.
    """
    if not proc_start:
        return None
    if proc_start.isdigit():
        if not sys.platform.startswith("linux"):
            return None
        return linux_proc_start(pid) == proc_start
    expected = lstart_epoch(proc_start)
    if expected is None:
        return None
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return abs(created - expected) < LSTART_TOLERANCE


def entry_alive(entry: RegistryEntry) -> bool:
    """Return True if the entry's process runs and, where checkable, started at ``procStart``."""
    try:
        if psutil.Process(entry.pid).status() == psutil.STATUS_ZOMBIE:
            return False
    except psutil.Error:
        return False
    return proc_start_matches(entry.pid, entry.proc_start) is not False
