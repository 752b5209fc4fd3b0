"""The context window of a session, in tokens (docs/claude-code-formats.md section 3.3).

Claude Code's status line reports ``context_window.context_window_size`` exactly; without it the
window is 200,000 tokens, or 1,000,000 for ``[1m]`` model selections, for models that always run
with 1M on the Anthropic API (Opus 4.7 and later, Opus/Sonnet/Fable 5 and later), or when the
context already holds more than 200,000 tokens. ``CLAUDE_CODE_MAX_CONTEXT_TOKENS`` (Claude Code's
own override, for gateway models) wins over the estimate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_WINDOW = 200_000
LARGE_WINDOW = 1_000_000
OVERRIDE_ENV = "CLAUDE_CODE_MAX_CONTEXT_TOKENS"

_ALWAYS_1M = re.compile(
    # The minor/major version is one or two digits and not the start of a date suffix:
    # claude-opus-4-7, claude-opus-4-10, claude-sonnet-5-20260301, vertex claude-opus-4-7@...,
    # bedrock anthropic.claude-opus-4-7-v1:0 match; claude-opus-4-20250514 (Opus 4) does not.
    r"claude-(?:opus-4-(?:[7-9]|[1-9]\d)|(?:opus|sonnet|fable)-(?:[5-9]|[1-9]\d))(?!\d)",
    re.IGNORECASE,
)


def context_window(
    model: str | None,
    used_tokens: int | None,
    statusline_size: int | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bool]:
    """Return ``(window_tokens, exact)`` for a session; ``exact`` only for the status line's size.

    ``model`` is the model id (status line ``model.id``, SessionStart ``model`` or the
    transcript's ``message.model``; None if unknown), ``used_tokens`` the context already in
    use, ``statusline_size`` the status line's ``context_window.context_window_size``, ``env``
    the environment of Claude Code (for ``CLAUDE_CODE_MAX_CONTEXT_TOKENS``; nothing is read
    from ``os.environ`` here). Order: status line, override, 1M model, used > 200k, 200k.
    """
    if statusline_size:
        return statusline_size, True
    override = (env or {}).get(OVERRIDE_ENV, "")
    if override.isdigit() and int(override) > 0:
        return int(override), False
    name = model or ""
    if "[1m]" in name.lower() or _ALWAYS_1M.search(name):
        return LARGE_WINDOW, False
    if used_tokens is not None and used_tokens > DEFAULT_WINDOW:
        return LARGE_WINDOW, False
    return DEFAULT_WINDOW, False
