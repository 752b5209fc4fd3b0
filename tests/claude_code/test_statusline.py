"""Claude Code's status-line input read leniently, from the real recorded inputs."""

from __future__ import annotations

import json

import pytest

from sessionbeat.claude_code.statusline import StatusLineReading, parse_statusline
from tests.conftest import RECORDINGS


@pytest.mark.parametrize(
    ("name", "tokens", "size"),
    [
        ("statusline-1.json", None, None),
        ("statusline-2.json", 46_083, 200_000),
        ("statusline-3.json", None, 200_000),
        ("statusline-4.json", 318_156, 1_000_000),
    ],
)
def test_parse_real_inputs(name: str, tokens: int | None, size: int | None) -> None:
    """Context comes from current_usage (never the cumulative total_input_tokens)."""
    reading = parse_statusline((RECORDINGS / name).read_bytes())
    assert (reading.context_tokens, reading.context_window_size) == (tokens, size)


def test_parse_keeps_what_the_agent_needs() -> None:
    """Session, transcript, model, name and repo of a 2.1.232 input are all read."""
    reading = parse_statusline((RECORDINGS / "statusline-4.json").read_bytes())
    doc = json.loads((RECORDINGS / "statusline-4.json").read_bytes())
    assert reading.session_id == doc["session_id"]
    assert reading.transcript_path == doc["transcript_path"]
    assert (reading.model_id, reading.model_name) == (doc["model"]["id"], "Opus 5")
    assert (reading.session_name, reading.repo_name) == (doc["session_name"], "alpha")
    assert reading.cwd == doc["workspace"]["current_dir"]
    assert reading.used_percentage == doc["context_window"]["used_percentage"]


@pytest.mark.parametrize(
    "data", [b"", b"\x00not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"context_window": 7}']
)
def test_parse_never_raises(data: bytes) -> None:
    """Anything that is not a status-line object gives an empty reading, no exception."""
    assert parse_statusline(data) == StatusLineReading()
