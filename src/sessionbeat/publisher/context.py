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
    r"claude-(?:opus-4-(?:[7-9]|\d{2,})|(?:opus|sonnet|fable)-(?:[5-9]|\d{2,}))(?:\b|[-.\[])",
    re.IGNORECASE,
)


def context_window(
    model: str | None,
    used_tokens: int | None,
    statusline_size: int | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[int, bool]:
    """Return ``(window_tokens, exact)``; ``exact`` is True only for the status line's size."""
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
