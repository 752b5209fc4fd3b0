"""Claude Code's global config file (``~/.claude.json``) and the user-scope MCP servers in it.

Measured with Claude Code 2.1.328 (docs/claude-code-formats.md, "MCP servers: what Claude Code
passes"):

* Where: ``$CLAUDE_CONFIG_DIR/.claude.json`` when ``CLAUDE_CONFIG_DIR`` is set, else
  ``~/.claude.json`` (not ``~/.claude/.claude.json``). The file holds Claude Code's whole state
  (projects, onboarding, account, possibly ``primaryApiKey``): everything but our entry is kept.
* ``claude mcp add -s user <name> -e K=V -- <command> <args...>`` writes
  ``"mcpServers": {"<name>": {"type": "stdio", "command": "<command>", "args": [...],
  "env": {"K": "V"}}}`` (``"args": []`` and ``"env": {}`` when there are none);
  ``claude mcp remove -s user <name>`` deletes the entry and leaves ``"mcpServers": {}``.
* Claude Code writes the file as ``JSON.stringify(config, null, 2)`` (no final newline), mode
  0600, under a lock: the directory ``<file>.lock`` (npm proper-lockfile: ``mkdir``; its mtime
  is refreshed while held and a lock older than 10 s is stale). Held, ``claude mcp add`` waited
  and then refused to save; 8 s old, it waited until the lock turned 10 s old and took it. A
  running Claude Code re-reads the file under the lock before each save, so another process's
  edit made under the same lock is kept.

Pure functions over parsed JSON, plus :func:`config_lock`; the file I/O of ``hooks install
--mcp`` is in :mod:`sessionbeat.publisher.hooks_install`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

SERVER_NAME = "sessionbeat"
ALLOW_RULE = f"mcp__{SERVER_NAME}"
"""The permission rule that lets a session call the server's (read-only) tools without asking."""
"""Our key in ``mcpServers``; Claude Code names the tools ``mcp__sessionbeat__<tool>``."""
CONFIG_NAME = ".claude.json"
LOCK_STALE_SECONDS = 10.0
"""A lock directory whose mtime is older than this is abandoned (proper-lockfile's default)."""


def global_config_file(config_dir: Path | None, home: Path) -> Path:
    """Return Claude Code's global config file.

    ``config_dir`` is ``CLAUDE_CONFIG_DIR`` when it is set (None when unset), ``home`` the user's
    home. Returns ``<config_dir>/.claude.json``, else ``<home>/.claude.json``.
    """
    return (config_dir if config_dir is not None else home) / CONFIG_NAME


def server_entry(command: str, args: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Return a stdio server entry exactly as ``claude mcp add -s user`` writes it.

    ``command`` is run without a shell (an absolute path needs no quoting), with ``args`` and
    the extra environment ``env`` on top of Claude Code's own.
    """
    return {"type": "stdio", "command": command, "args": list(args), "env": dict(env)}


def sessionbeat_entry(script: str, api_url: str) -> dict[str, Any]:
    """Return our entry: ``<script> mcp`` with ``SESSIONBEAT_API_URL=api_url``.

    ``script`` is the absolute path of the installed ``sessionbeat`` console script. No token is
    written: the server reads ``SESSIONBEAT_API_TOKEN`` from its environment or the TOML config.
    """
    return server_entry(script, ["mcp"], {"SESSIONBEAT_API_URL": api_url})


def _servers(config: Mapping[str, Any]) -> dict[str, Any] | None:
    servers = config.get("mcpServers")
    if servers is not None and not isinstance(servers, dict):
        raise ValueError("'mcpServers' is not an object")
    return servers


def get_server(config: Mapping[str, Any], name: str = SERVER_NAME) -> dict[str, Any] | None:
    """Return the user-scope server ``name`` of a parsed config, or None.

    Raises ``ValueError`` when ``mcpServers`` or the entry is not an object.
    """
    entry = (_servers(config) or {}).get(name)
    if entry is not None and not isinstance(entry, dict):
        raise ValueError(f"mcpServers.{name} is not an object")
    return entry


def add_server(
    config: Mapping[str, Any], entry: Mapping[str, Any], name: str = SERVER_NAME
) -> dict[str, Any]:
    """Return a copy of ``config`` with ``mcpServers[name] = entry`` (replacing an old one).

    Every other key, and every other server, stays as and where it was. Raises ``ValueError``
    when ``mcpServers`` is not an object.
    """
    result = copy.deepcopy(dict(config))
    servers = _servers(result)
    if servers is None:
        servers = result["mcpServers"] = {}
    servers[name] = copy.deepcopy(dict(entry))
    return result


def remove_server(config: Mapping[str, Any], name: str = SERVER_NAME) -> dict[str, Any]:
    """Return a copy of ``config`` without ``mcpServers[name]``.

    Leaves ``"mcpServers": {}`` when it was the last one, as ``claude mcp remove`` does. Raises
    ``ValueError`` when ``mcpServers`` is not an object.
    """
    result = copy.deepcopy(dict(config))
    servers = _servers(result)
    if servers is not None:
        servers.pop(name, None)
    return result


def render(config: Mapping[str, Any]) -> str:
    """Return the config as Claude Code writes it: 2-space indented JSON, no final newline."""
    return json.dumps(config, indent=2, ensure_ascii=False)


def lock_path(path: Path) -> Path:
    """Return the lock directory Claude Code takes for the config file ``path``."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def config_lock(path: Path, timeout: float = LOCK_STALE_SECONDS + 2) -> Iterator[None]:
    """Hold Claude Code's lock on the config file ``path`` (the ``<path>.lock`` directory).

    Waits while another process holds it; a lock directory older than
    :data:`LOCK_STALE_SECONDS` is taken over as abandoned, as Claude Code does. Hold it for
    milliseconds only: the mtime is not refreshed. Raises ``TimeoutError`` when the lock is
    still held after ``timeout`` seconds, ``OSError`` when the folder is not writable.
    """
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            os.mkdir(lock)
            break
        except FileExistsError:
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue  # released just now
            if age > LOCK_STALE_SECONDS:
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(lock)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock} is held by another process") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(lock)
