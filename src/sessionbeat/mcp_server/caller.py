"""Who is calling: the Claude Code session that started this MCP server, without configuration.

Claude Code starts a stdio MCP server as its own child process and keeps its session registry
``<config dir>/sessions/<pid>.json`` (``claude_code/registry.py``). So, in this order:

1. ``registry``: walk the parent chain (psutil) from ``os.getppid()`` up :data:`ANCESTOR_LEVELS`
   levels and take the first process with a registry entry whose ``pid`` is that process (and
   whose ``procStart`` matches it, where checkable: a stale file of a reused pid does not
   count). Its ``sessionId`` and ``cwd`` follow ``/clear``, which starts a new session id.
2. ``env``: ``CLAUDE_CODE_SESSION_ID`` (:data:`SESSION_ID_VAR`). Claude Code sets it in stdio
   MCP servers' environment since 2.1.154 (its changelog; anthropics/claude-code#63305, #65497),
   with the id the server was started with: after ``/clear`` it names the old session.
3. ``cwd``: only the working directory is known, ``CLAUDE_PROJECT_DIR`` (:data:`PROJECT_DIR_VAR`,
   which Claude Code sets to the project root for stdio MCP servers) or else the server's own
   cwd (Claude Code starts the server in the project directory). The tools then take the one
   live session of this host in that directory as the caller, if exactly one is.

The repository and branch come from ``publisher.git.repo_info``, the function the host agent
names every beat's ``repo`` and ``branch`` with, so the names match what the API reports.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from sessionbeat.claude_code.registry import RegistryEntry, parse_entry, proc_start_matches
from sessionbeat.mcp_server.results import CallerSource
from sessionbeat.publisher.git import repo_info

ANCESTOR_LEVELS = 6
"""Parent processes looked at: Claude Code itself, or a launcher (shell, ``uv run``) or two."""
SESSION_ID_VAR = "CLAUDE_CODE_SESSION_ID"
"""The variable Claude Code sets to the session id in stdio MCP servers (2.1.154+)."""
PROJECT_DIR_VAR = "CLAUDE_PROJECT_DIR"
"""The variable Claude Code sets to the project root in stdio MCP servers."""
_SESSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""A session id as the wire accepts it (``models.IdStr``)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The calling session as recognised.

    ``session_id`` (None with ``source="cwd"``), its ``cwd``, git ``repo`` and ``branch`` (None
    outside a repository), ``source`` (registry, env or cwd) and ``pid``, the Claude Code
    process found in the registry (else None).
    """

    session_id: str | None
    cwd: str
    repo: str | None
    branch: str | None
    source: CallerSource
    pid: int | None = None


def ancestors(start: int, levels: int = ANCESTOR_LEVELS) -> Iterator[int]:
    """Yield ``start`` and its parents' pids, at most ``levels`` of them, stopping below pid 2.

    A process that vanished or cannot be read ends the walk. Never raises.
    """
    pid = start
    for _ in range(levels):
        if pid <= 1:
            return
        yield pid
        try:
            pid = psutil.Process(pid).ppid()
        except psutil.Error:
            return


def registry_entry(claude_config_dir: Path, pid: int) -> RegistryEntry | None:
    """Return the registry entry ``<claude_config_dir>/sessions/<pid>.json`` of process ``pid``.

    None if the file is missing or unreadable, fails the registry's gate
    (``claude_code.registry.parse_entry``), names another pid, or has a ``procStart`` that is
    not this process's start (a reused pid). Never raises.
    """
    path = claude_config_dir / "sessions" / f"{pid}.json"
    try:
        entry = parse_entry(json.loads(path.read_bytes()), pid)
    except (OSError, ValueError):
        return None
    if entry is None or entry.pid != pid or proc_start_matches(pid, entry.proc_start) is False:
        return None
    return entry


def find_caller(
    claude_config_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    start_pid: int | None = None,
    cwd: str | None = None,
    levels: int = ANCESTOR_LEVELS,
) -> Caller:
    """Return the calling session, found as the module doc says (registry, env, cwd).

    ``claude_config_dir`` is Claude Code's config dir (``settings.claude_config_dir``);
    ``env`` defaults to ``os.environ``; ``start_pid`` to ``os.getppid()``; ``cwd`` (the
    fallback directory) to ``CLAUDE_PROJECT_DIR``, else ``os.getcwd()`` (``""`` if deleted).
    Never raises.
    """
    environ = os.environ if env is None else env
    fallback = cwd or environ.get(PROJECT_DIR_VAR) or _getcwd()
    for pid in ancestors(os.getppid() if start_pid is None else start_pid, levels):
        entry = registry_entry(claude_config_dir, pid)
        if entry is not None:
            return _caller(entry.session_id, entry.cwd or fallback, "registry", entry.pid)
    session_id = environ.get(SESSION_ID_VAR, "")
    if _SESSION_ID.match(session_id):
        return _caller(session_id, fallback, "env")
    return _caller(None, fallback, "cwd")


def _getcwd() -> str:
    """Return the working directory, or ``""`` if it was deleted."""
    try:
        return os.getcwd()
    except OSError:
        return ""


def _caller(
    session_id: str | None, cwd: str, source: CallerSource, pid: int | None = None
) -> Caller:
    info = repo_info(cwd)
    return Caller(session_id, cwd, info.repo, info.branch, source, pid)
