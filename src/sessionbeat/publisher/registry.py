"""Claude Code's own registry of live sessions: ``<config dir>/sessions/<pid>.json``.

Undocumented, present since ~2.1.139 (docs/claude-code-formats.md section 7; seen fields:
``pid, sessionId, cwd, startedAt, procStart, version, kind, entrypoint, status
(idle|busy|waiting|shell), statusUpdatedAt, updatedAt, name``). Parsed leniently: files that
are not ``<digits>.json`` (legacy ``pid-<n>.json`` orphans) are skipped, as are entries without
a ``sessionId``. ``procStart`` guards against pid reuse: on Linux it is field 22 of
``/proc/<pid>/stat`` (start time in clock ticks since boot); where that cannot be checked, the
process only has to exist.
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


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One registry file. ``status`` is the raw word (None: the file gives none, e.g. SDK)."""

    pid: int
    session_id: str
    status: str | None
    proc_start: str | None
    cwd: str | None
    started_at: datetime | None
    updated_at: datetime | None
    name: str | None
    kind: str | None
    version: str | None


def _ms_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
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
    """Return the entry of one registry document, or None if it names no session."""
    if not isinstance(data, dict) or not _str(data.get("sessionId")):
        return None
    pid = data.get("pid")
    proc_start = data.get("procStart")
    return RegistryEntry(
        pid=pid if isinstance(pid, int) and pid > 0 else pid_from_name,
        session_id=data["sessionId"],
        status=_str(data.get("status")),
        proc_start=str(proc_start) if isinstance(proc_start, int | str) else None,
        cwd=_str(data.get("cwd")),
        started_at=_ms_time(data.get("startedAt")),
        updated_at=_ms_time(data.get("updatedAt") or data.get("statusUpdatedAt")),
        name=_str(data.get("name")),
        kind=_str(data.get("kind")),
        version=_str(data.get("version")),
    )


def scan_registry(claude_config_dir: Path) -> list[RegistryEntry]:
    """Return the entries in ``<claude_config_dir>/sessions/``; unreadable files are skipped."""
    directory = claude_config_dir / "sessions"
    if not directory.is_dir():
        return []
    entries = []
    for path in directory.glob("*.json"):
        if not path.stem.isdigit():
            continue
        try:
            entry = parse_entry(json.loads(path.read_bytes()), int(path.stem))
        except (OSError, ValueError):
            continue  # being rewritten by Claude Code, or not JSON: next scan
        if entry is not None:
            entries.append(entry)
    return entries


def linux_proc_start(pid: int) -> str | None:
    """Return field 22 of ``/proc/<pid>/stat`` (process start, clock ticks), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def entry_alive(entry: RegistryEntry) -> bool:
    """Return True if the entry's process runs and, where checkable, started at ``procStart``."""
    if not psutil.pid_exists(entry.pid):
        return False
    if entry.proc_start is not None and sys.platform.startswith("linux"):
        return linux_proc_start(entry.pid) == entry.proc_start
    return True
