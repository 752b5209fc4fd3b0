"""Context window sizes (claude_code/context.py)."""

from __future__ import annotations

import pytest

from sessionbeat.claude_code.context import context_window


@pytest.mark.parametrize(
    ("model", "used", "expected"),
    [
        ("claude-opus-4-6", 103_530, 200_000),
        ("claude-sonnet-4-5-20250929", 10, 200_000),
        ("claude-sonnet-4-5[1m]", 10, 1_000_000),
        ("claude-opus-4-7", 10, 1_000_000),
        ("claude-opus-5", 10, 1_000_000),
        ("claude-fable-5-20260301", 10, 1_000_000),
        ("claude-opus-4-10", 10, 1_000_000),
        ("claude-opus-4-7@20260115", 10, 1_000_000),  # Vertex AI id
        ("us.anthropic.claude-sonnet-5-v1:0", 10, 1_000_000),  # Bedrock id
        # Opus 4 (transcript-2's model): the date suffix is not a minor version 20250514.
        ("claude-opus-4-20250514", 41_585, 200_000),
        ("claude-opus-4-1-20250805", 10, 200_000),
        ("nvidia/nemotron-3-ultra-550b-a55b", 62_048, 200_000),
        ("nvidia/nemotron-3-ultra-550b-a55b", 318_146, 1_000_000),
        (None, None, 200_000),
    ],
)
def test_estimated_window(model: str | None, used: int | None, expected: int) -> None:
    """Without a status line the window follows the model and what the context already holds."""
    assert context_window(model, used) == (expected, False)


def test_status_line_size_is_exact_and_wins() -> None:
    """The status line's context_window_size is taken as is and marked exact."""
    assert context_window("claude-opus-4-6", 10, 1_000_000) == (1_000_000, True)


def test_claude_override_env() -> None:
    """CLAUDE_CODE_MAX_CONTEXT_TOKENS sets the window of gateway models."""
    env = {"CLAUDE_CODE_MAX_CONTEXT_TOKENS": "128000"}
    assert context_window("nvidia/x", 10, None, env) == (128_000, False)


def test_override_must_be_a_positive_number() -> None:
    """A malformed or zero override is ignored instead of giving a nonsense window."""
    for value in ("", "0", "lots", "-5"):
        env = {"CLAUDE_CODE_MAX_CONTEXT_TOKENS": value}
        assert context_window("claude-opus-4-7", 10, None, env) == (1_000_000, False)
