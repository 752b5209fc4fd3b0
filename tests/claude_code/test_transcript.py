"""Context tokens from the tail of real transcripts (claude_code/transcript.py)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessionbeat.claude_code import transcript
from sessionbeat.claude_code.transcript import FIRST_CHUNK, read_context, tail_messages
from tests.conftest import FIXTURES

TRANSCRIPTS = ("transcript-1.jsonl", "transcript-2.jsonl", "transcript-3.jsonl")
T = TypeVar("T")


def whole_file_answer(path: Path) -> tuple[int | None, str | None, str | None, str | None]:
    """The reference method applied to every line, oldest to newest (the slow, obvious way)."""
    tokens = model = cwd = branch = None
    for raw in path.read_bytes().splitlines():
        entry = json.loads(raw)
        cwd = entry.get("cwd") or cwd
        branch = entry.get("gitBranch") or branch
        message = entry.get("message")
        if (
            entry.get("type") == "assistant"
            and not entry.get("isSidechain")
            and not entry.get("isApiErrorMessage")
            and isinstance(message, dict)
            and message.get("model") != "<synthetic>"
            and isinstance(message.get("usage"), dict)
        ):
            usage = message["usage"]
            tokens = sum(
                usage.get(k) or 0
                for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            )
            model = message["model"]
    return tokens, model, cwd, branch


@pytest.mark.parametrize(
    ("name", "tokens", "model"),
    [
        ("transcript-1.jsonl", 103_530, "claude-opus-4-6"),
        ("transcript-2.jsonl", 41_585, "claude-opus-4-20250514"),
        ("transcript-3.jsonl", 62_048, "nvidia/nemotron-3-ultra-550b-a55b"),
    ],
)
def test_real_transcripts_give_the_reference_values(name: str, tokens: int, model: str) -> None:
    """The three real transcripts give the values of reference section 3.3."""
    ctx = read_context(str(FIXTURES / name))
    assert ctx is not None
    assert (ctx.context_tokens, ctx.model, ctx.compacted) == (tokens, model, False)


def test_cwd_and_branch_come_from_the_newest_entries() -> None:
    """The tail also tells where the session works (old hooks carry no cwd)."""
    ctx = read_context(str(FIXTURES / "transcript-1.jsonl"))
    assert ctx is not None
    assert (ctx.cwd, ctx.branch) == ("/Users/akinpound/Documents/cka-buddy", "master")


def test_only_the_tail_is_read_of_a_large_file(tmp_path: Path) -> None:
    """On a big transcript the reader reads one chunk from the end, not the file."""
    lines = (FIXTURES / "transcript-1.jsonl").read_bytes()
    big = tmp_path / "big.jsonl"
    with big.open("wb") as f:
        for _ in range(40):
            f.write(lines)
    ctx = read_context(str(big))
    assert ctx is not None
    assert ctx.context_tokens == 103_530
    assert ctx.bytes_read == FIRST_CHUNK < big.stat().st_size // 20


def _assistant(tokens: int, **extra: object) -> dict[str, object]:
    return {
        "type": "assistant",
        "isSidechain": False,
        **extra,
        "message": {
            "model": "claude-opus-4-6",
            "usage": {
                "input_tokens": tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    }


def test_sidechain_error_stubs_and_compaction(tmp_path: Path) -> None:
    """Sidechain and API-error entries are skipped; a newer compact boundary wins."""
    path = tmp_path / "t.jsonl"
    entries = [
        _assistant(5000),
        _assistant(9999, isSidechain=True),
        {
            "type": "assistant",
            "isApiErrorMessage": True,
            "message": {"model": "<synthetic>", "usage": {"input_tokens": 1}},
        },
        {"type": "unknown-future-type"},
    ]
    path.write_text("\n".join(json.dumps(e) for e in entries) + "\n{broken")
    ctx = read_context(str(path))
    assert ctx is not None
    assert ctx.context_tokens == 5000
    with path.open("a") as f:
        f.write(
            "\n"
            + json.dumps(
                {
                    "type": "system",
                    "subtype": "compact_boundary",
                    "compactMetadata": {
                        "trigger": "auto",
                        "preTokens": 160000,
                        "postTokens": 12000,
                    },
                }
            )
            + "\n"
        )
    ctx = read_context(str(path))
    assert ctx is not None
    assert (ctx.context_tokens, ctx.compacted) == (12000, True)


def test_missing_transcript_is_none() -> None:
    """A transcript path from another host (or a deleted file) gives None, no exception."""
    assert read_context("/Users/someone/.claude/projects/x/y.jsonl") is None


def test_read_stops_at_the_byte_cap(tmp_path: Path) -> None:
    """With no usable entry near the end, reading stops at max_bytes instead of the whole file."""
    path = tmp_path / "t.jsonl"
    filler = json.dumps({"type": "user", "message": {"content": "x" * 500}}) + "\n"
    path.write_text(json.dumps(_assistant(7)) + "\n" + filler * 2000)
    ctx = read_context(str(path), max_bytes=256 * 1024)
    assert ctx is not None
    assert (ctx.context_tokens, ctx.bytes_read) == (None, 256 * 1024)
    whole = read_context(str(path), max_bytes=10 * 1024 * 1024)
    assert whole is not None
    assert whole.context_tokens == 7  # found once the cap allows reaching it


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(TRANSCRIPTS), first_chunk=st.integers(1, 300_000))
def test_any_block_size_gives_the_whole_file_answer(name: str, first_chunk: int) -> None:
    """Lines cut at any block boundary are joined again: same answer as a whole-file scan."""
    path = FIXTURES / name
    ctx = read_context(path, first_chunk=first_chunk)
    assert ctx is not None
    assert (ctx.context_tokens, ctx.model, ctx.cwd, ctx.branch) == whole_file_answer(path)
    assert ctx.bytes_read <= path.stat().st_size


def test_new_usage_after_a_compaction_wins(tmp_path: Path) -> None:
    """Once the compacted session answers again, its new usage is the context, not postTokens."""
    path = tmp_path / "t.jsonl"
    boundary = {"type": "system", "subtype": "compact_boundary", "compactMetadata": {}}
    path.write_text("\n".join(json.dumps(e) for e in (_assistant(150_000), boundary)) + "\n")
    ctx = read_context(path)
    assert ctx is not None
    assert (ctx.context_tokens, ctx.compacted, ctx.model) == (0, True, None)  # no postTokens
    with path.open("a") as f:
        f.write(json.dumps(_assistant(21_000)) + "\n")
    ctx = read_context(path)
    assert ctx is not None
    assert (ctx.context_tokens, ctx.compacted, ctx.model) == (21_000, False, "claude-opus-4-6")


def test_empty_and_usage_free_files(tmp_path: Path) -> None:
    """An empty transcript, or one without any assistant usage yet, reads as 'unknown'."""
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    ctx = read_context(empty)
    assert ctx is not None
    assert (ctx.context_tokens, ctx.bytes_read) == (None, 0)
    start = tmp_path / "start.jsonl"
    start.write_text(json.dumps({"type": "user", "cwd": "/w", "message": {"content": "hi"}}))
    ctx = read_context(start)
    assert ctx is not None
    assert (ctx.context_tokens, ctx.cwd) == (None, "/w")


def in_thread(call: Callable[[], T]) -> T:
    """Run ``call`` in a thread and return its result; a call still blocked after 10 s fails.

    A hang guard, not a timing assertion: reading a FIFO used to block until a writer came.
    """
    box: list[T] = []
    worker = threading.Thread(target=lambda: box.append(call()), daemon=True)
    worker.start()
    worker.join(10)
    assert box, "the call blocked"
    return box[0]


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe nobody writes to; a reader still blocked in open() is released at the end."""
    path = tmp_path / "t.jsonl"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # ENXIO: no reader waits, nothing to release
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_is_never_read(fifo: Path) -> None:
    """A named pipe as transcript_path reads as 'no transcript' at once instead of blocking."""
    assert in_thread(lambda: read_context(fifo)) is None
    assert in_thread(lambda: tail_messages(str(fifo))) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_swapped_in_after_the_check_is_caught_on_the_open_file(
    fifo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check before opening can race a rename; the opened file is checked again."""
    monkeypatch.setattr(transcript, "_looks_regular", lambda path: True)
    assert in_thread(lambda: read_context(fifo)) is None
    assert in_thread(lambda: tail_messages(str(fifo))) == []


def test_a_folder_or_a_device_is_not_a_transcript(tmp_path: Path) -> None:
    """Only regular files are read: a directory or /dev/zero gives None."""
    assert read_context(tmp_path) is None
    assert tail_messages(str(tmp_path)) == []
    if Path("/dev/zero").exists():
        assert in_thread(lambda: read_context("/dev/zero")) is None
