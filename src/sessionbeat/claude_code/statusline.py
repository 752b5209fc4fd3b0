"""Claude Code's status-line input: the JSON it writes to the status-line command's stdin.

Source: https://code.claude.com/docs/en/statusline and docs/claude-code-formats.md section 4;
real inputs in ``src/sessionbeat/stack/recordings/statusline-*.json``. Parsed leniently: a field
that is absent or of the wrong type reads as None. Standard library only (the status-line
command imports this on its fast path).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StatusLineReading:
    """What one status-line input says; every field is None when absent or of the wrong type.

    ``context_tokens`` = input + cache creation + cache read tokens of
    ``context_window.current_usage`` (``total_input_tokens`` is NOT used: before Claude Code
    2.1.132 it was a cumulative session total); None before the first API call and right after
    ``/compact`` (``current_usage`` is null then). ``context_window_size`` is in tokens,
    ``used_percentage`` 0-100 as Claude Code rounds it. ``cwd`` is ``workspace.current_dir``
    (else ``cwd``); ``repo_name`` is ``workspace.repo.name`` (2.1.145+).
    """

    session_id: str | None = None
    transcript_path: str | None = None
    cwd: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    context_tokens: int | None = None
    context_window_size: int | None = None
    used_percentage: float | None = None
    session_name: str | None = None
    repo_name: str | None = None


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


def parse_statusline(data: bytes) -> StatusLineReading:
    """Parse status-line stdin JSON leniently (section 4 of docs/claude-code-formats.md).

    Never raises: input that is not a JSON object gives a reading with every field None (the
    agent counts it as bad input because it names no session).
    """
    try:
        doc = json.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        return StatusLineReading()
    if not isinstance(doc, dict):
        return StatusLineReading()
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
    size = _i(_get(doc, "context_window", "context_window_size"))
    return StatusLineReading(
        session_id=_s(doc.get("session_id")),
        transcript_path=_s(doc.get("transcript_path")),
        cwd=_s(_get(doc, "workspace", "current_dir")) or _s(doc.get("cwd")),
        model_id=_s(_get(doc, "model", "id")),
        model_name=_s(_get(doc, "model", "display_name")),
        context_tokens=tokens,
        context_window_size=size if size is not None and size > 0 else None,
        used_percentage=(
            float(pct) if isinstance(pct, int | float) and not isinstance(pct, bool) else None
        ),
        session_name=_s(doc.get("session_name")),
        repo_name=_s(_get(doc, "workspace", "repo", "name")),
    )
