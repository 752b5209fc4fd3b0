"""``sessionbeat statusline``: Claude Code's status-line command, publishing exact context data.

Claude Code runs the status-line command after each assistant message (and every
``refreshInterval`` s) with JSON on stdin (https://code.claude.com/docs/en/statusline;
docs/claude-code-formats.md section 4). It is the only first-party source of the context window
size. This command hands the raw JSON to the host agent (like the hook, without waiting), then
runs the user's previous status-line command with the same stdin and passes its output through
byte for byte, or prints a compact line of its own.

Chaining: ``hooks install --statusline`` writes ``"<script>" statusline --chain <key>`` into a
settings file and records that file's previous ``statusLine`` object in
``<state_dir>/statusline.json``::

    {"version": 1, "chains": {"<key>": {"settings": "/abs/settings.json", "previous": {...}}}}

``<key>`` is derived from the settings file's path (:func:`chain_key`), so the user file and a
project file each chain (and on uninstall restore) their own previous line.

Like the hook path, this imports no third-party package (``json`` and ``subprocess`` are fine
here: the status line is not on the hook's critical path).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

from sessionbeat.claude_code.statusline import StatusLineReading, parse_statusline
from sessionbeat.publisher import hook

CHAIN_FILE = "statusline.json"
CHAIN_TIMEOUT = 5.0
"""Seconds the chained command may take (Claude Code cancels slow runs itself anyway)."""


def default_line(reading: StatusLineReading) -> str:
    """Return the compact line shown when no previous status line is chained.

    E.g. ``"Opus 4.6 · ctx 23% · voter-api"`` (model, context %, repo or directory name);
    unknown parts are left out; an input without any of them gives ``"sessionbeat"``.
    """
    if reading == StatusLineReading():
        return "sessionbeat"
    parts = [reading.model_name or reading.model_id or "Claude"]
    pct = reading.used_percentage
    if pct is None and reading.context_tokens is not None and reading.context_window_size:
        pct = 100.0 * reading.context_tokens / reading.context_window_size
    if pct is not None:
        parts.append(f"ctx {round(pct)}%")
    where = reading.repo_name or (
        os.path.basename(reading.cwd.rstrip("/\\")) if reading.cwd else None
    )
    if where:
        parts.append(where)
    return " · ".join(parts)


# -- chaining ------------------------------------------------------------------------------


def chain_key(settings_path: str) -> str:
    """Return the chain key of a settings file: 10 hex digits of the SHA-256 of its path."""
    import hashlib  # only at install time

    return hashlib.sha256(settings_path.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def chain_path(state_dir: str | None = None) -> str:
    """Return ``<state_dir>/statusline.json`` (default: the hook's own state-dir rule)."""
    return os.path.join(state_dir or hook.state_dir(), CHAIN_FILE)


def load_chains(state_dir: str | None = None) -> dict[str, dict[str, Any]]:
    """Return the recorded chains, ``{key: {"settings": path, "previous": obj | None}}``.

    A missing or unreadable file gives ``{}``; entries that are not objects are dropped.
    """
    try:
        with open(chain_path(state_dir), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    chains = data.get("chains") if isinstance(data, dict) else None
    if not isinstance(chains, dict):
        return {}
    return {k: v for k, v in chains.items() if isinstance(k, str) and isinstance(v, dict)}


def save_chains(chains: dict[str, dict[str, Any]], state_dir: str | None = None) -> None:
    """Write the chains atomically (the file is removed when there are none).

    Raises ``OSError`` if the state dir cannot be written.
    """
    path = chain_path(state_dir)
    if not chains:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"version": 1, "chains": chains}, f, indent=2)
    os.replace(tmp, path)


def previous_command(key: str | None, state_dir: str | None = None) -> str | None:
    """Return the previous status-line command chained for ``key``, or None.

    Without a key (a status line installed by hand as plain ``sessionbeat statusline``), the
    only recorded chain is used if there is exactly one.
    """
    chains = load_chains(state_dir)
    if key is not None:
        chain = chains.get(key)
    else:
        chain = next(iter(chains.values())) if len(chains) == 1 else None
    previous = chain.get("previous") if chain else None
    command = previous.get("command") if isinstance(previous, dict) else None
    return command if isinstance(command, str) and command.strip() else None


def run_chained(
    command: str, data: bytes, timeout: float = CHAIN_TIMEOUT
) -> tuple[bytes, int] | None:
    """Run the previous status-line command with ``data`` on stdin; return (stdout, exit code).

    Runs through the user's shell (``$SHELL -c``; ``cmd`` on Windows) in its own process
    group, so that on a timeout (``timeout`` seconds) the whole group is killed, children that
    hold the output pipe included. stderr is inherited. Returns None on a timeout or when the
    command cannot be started.
    """
    kwargs: dict[str, Any] = {}
    if os.name == "nt":
        argv: list[str] | str = command
        kwargs["shell"] = True
        kwargs["creationflags"] = 0x00000200  # CREATE_NEW_PROCESS_GROUP
    else:
        argv = [os.environ.get("SHELL") or "/bin/sh", "-c", command]
        kwargs["start_new_session"] = True
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, **kwargs)
    except (OSError, ValueError):
        return None
    try:
        out, _ = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        return None
    return out, proc.returncode


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the chained command and every process of its group (POSIX), or just it."""
    if os.name != "nt":
        import signal

        try:
            os.killpg(proc.pid, signal.SIGKILL)
            return
        except OSError:
            pass
    proc.kill()


def _chain_arg(argv: list[str]) -> str | None:
    """Return the value of ``--chain KEY`` / ``--chain=KEY`` in ``argv``, or None."""
    for i, arg in enumerate(argv):
        if arg == "--chain" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--chain="):
            return arg.split("=", 1)[1]
    return None


def main(argv: list[str]) -> int:
    """Run the status line: deliver the reading, then chain or print. Returns the exit code.

    ``argv`` are the arguments after ``statusline`` (``--chain KEY``). Publishing never fails
    the status line: a failure is noted in ``<state_dir>/hook-errors.log``. The exit code is
    the chained command's; 0 when our own line is printed (also when the chained command timed
    out or could not start: then our line stands in for it).
    """
    now_ns = time.time_ns()
    data = hook.read_stdin()
    if data.strip() and not os.environ.get("SESSIONBEAT_DISABLE"):
        try:
            hook.deliver(hook.STATUSLINE_MAGIC, data, now_ns)
        except BaseException as exc:  # never let publishing break the status line
            hook._note_error(hook.state_dir(), exc)
    command = previous_command(_chain_arg(argv))
    result = run_chained(command, data) if command is not None else None
    if result is not None:
        out, code = result
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
        return code
    sys.stdout.buffer.write((default_line(parse_statusline(data)) + "\n").encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0
