"""``sessionbeat statusline``: Claude Code's status-line command, publishing exact context data.

Claude Code runs the status-line command after each assistant message (and every
``refreshInterval`` s) with JSON on stdin (https://code.claude.com/docs/en/statusline;
docs/claude-code-formats.md section 4). It is the only first-party source of the context window
size. This command hands the raw JSON to the host agent (like the hook, without waiting), then
runs the user's previous status-line command with the same stdin and passes its output through
byte for byte, or prints a compact line of its own. ``hooks install --statusline`` records the
previous command in ``<state_dir>/statusline.json`` so uninstall can restore it.

Like the hook path, the command imports no third-party package (``json`` and ``subprocess``
are fine here: the status line is not on the hook's critical path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from sessionbeat.publisher import hook

CHAIN_FILE = "statusline.json"
CHAIN_TIMEOUT = 5.0
"""Seconds the chained command may take (Claude Code cancels slow runs itself anyway)."""


@dataclass(frozen=True, slots=True)
class StatusLineReading:
    """What one status-line input says. Tokens are tokens; ``used_percentage`` is 0-100.

    ``context_tokens`` = input + cache creation + cache read tokens of ``current_usage``
    (``total_input_tokens`` is NOT used: before 2.1.132 it was a cumulative session total).
    """

    session_id: str | None
    transcript_path: str | None
    cwd: str | None
    model_id: str | None
    model_name: str | None
    context_tokens: int | None
    context_window_size: int | None
    used_percentage: float | None
    session_name: str | None
    repo_name: str | None


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _i(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_statusline(data: bytes) -> StatusLineReading | None:
    """Parse status-line stdin JSON leniently; None if it is not a JSON object."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    usage = _get(doc, "context_window", "current_usage")
    tokens = None
    if isinstance(usage, dict):
        parts = [
            _i(usage.get(k))
            for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        ]
        if any(p is not None for p in parts):
            tokens = sum(p or 0 for p in parts)
    pct = _get(doc, "context_window", "used_percentage")
    return StatusLineReading(
        session_id=_s(doc.get("session_id")),
        transcript_path=_s(doc.get("transcript_path")),
        cwd=_s(_get(doc, "workspace", "current_dir")) or _s(doc.get("cwd")),
        model_id=_s(_get(doc, "model", "id")),
        model_name=_s(_get(doc, "model", "display_name")),
        context_tokens=tokens,
        context_window_size=_i(_get(doc, "context_window", "context_window_size")),
        used_percentage=float(pct) if isinstance(pct, int | float) else None,
        session_name=_s(doc.get("session_name")),
        repo_name=_s(_get(doc, "workspace", "repo", "name")),
    )


def default_line(reading: StatusLineReading | None) -> str:
    """Return the compact line shown when no previous status line is chained.

    E.g. ``"Opus 4.6 · ctx 23% · voter-api"``; parts that are unknown are left out.
    """
    if reading is None:
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


def chain_path() -> str:
    """Return ``<state_dir>/statusline.json`` (the hook's own state-dir rule)."""
    return os.path.join(hook.state_dir(), CHAIN_FILE)


def load_chain() -> dict[str, Any] | None:
    """Return the recorded previous ``statusLine`` object, or None."""
    try:
        with open(chain_path(), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    previous = data.get("previous") if isinstance(data, dict) else None
    return previous if isinstance(previous, dict) else None


def run_chained(command: str, data: bytes) -> tuple[bytes, int]:
    """Run the previous status-line command with ``data`` on stdin; return (stdout, code).

    Runs through the user's shell like Claude Code does; a timeout or failure to start gives
    empty output and code 1.
    """
    if os.name == "nt":
        argv: list[str] | str = command
        shell = True
    else:
        argv = [os.environ.get("SHELL") or "/bin/sh", "-c", command]
        shell = False
    try:
        done = subprocess.run(
            argv,
            input=data,
            shell=shell,
            stdout=subprocess.PIPE,
            timeout=CHAIN_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return b"", 1
    return done.stdout, done.returncode


def main(argv: list[str]) -> int:
    """Run the status line: deliver the reading, then chain or print. Returns the exit code."""
    now_ns = time.time_ns()
    stdin = sys.stdin
    data = b"" if stdin is None or stdin.isatty() else stdin.buffer.read(hook.MAX_INPUT)
    if data.strip():
        try:
            hook.deliver(hook.STATUSLINE_MAGIC, data, now_ns)
        except BaseException as exc:  # never let publishing break the status line
            hook._note_error(hook.state_dir(), exc)
    previous = load_chain()
    command = previous.get("command") if previous else None
    if isinstance(command, str) and command.strip():
        out, code = run_chained(command, data)
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
        return code
    sys.stdout.write(default_line(parse_statusline(data)) + "\n")
    sys.stdout.flush()
    return 0
