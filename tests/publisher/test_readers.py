"""The agent's transcript reads (publisher/readers.py): never on a FIFO, never unbounded."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from sessionbeat.claude_code import transcript
from sessionbeat.publisher import readers as readers_module
from sessionbeat.publisher.readers import ClaudeReaders
from sessionbeat.settings import load_settings
from tests.conftest import FIXTURES, short_tmpdir
from tests.procs import wait_until


def make_readers(wait: float = readers_module.TRANSCRIPT_WAIT) -> ClaudeReaders:
    state = short_tmpdir()
    settings = load_settings(state_dir=state, claude_config_dir=state / "claude", host="laptop")
    return ClaudeReaders(settings, transcript_wait=wait)


def a_transcript() -> Path:
    """A copy of a real transcript (context 103,530 tokens) the test may change."""
    path = short_tmpdir() / "t.jsonl"
    shutil.copy(FIXTURES / "transcript-1.jsonl", path)
    return path


def test_a_transcript_is_read_within_the_call() -> None:
    """A readable transcript gives its context in the same call, as the hook's beat needs."""
    reading = make_readers().transcript_context(str(a_transcript()), None)
    assert reading is not None
    assert reading.context_tokens == 103_530


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_fifo_is_not_a_transcript(monkeypatch: pytest.MonkeyPatch) -> None:
    """A named pipe gives no reading and is never handed to the transcript reader."""
    calls: list[str] = []
    monkeypatch.setattr(transcript, "read_context", lambda path, *a: calls.append(path))
    fifo = short_tmpdir() / "t.jsonl"
    os.mkfifo(fifo)
    assert make_readers().transcript_context(str(fifo), None) is None
    assert calls == []


class SlowRead:
    """Stands in for ``transcript.read_context``: blocks until released, counts its calls."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0
        self.real = transcript.read_context

    def __call__(self, path: str) -> transcript.TranscriptContext | None:
        self.calls += 1
        assert self.release.wait(30), "never released"
        return self.real(path)


def test_a_slow_read_does_not_hold_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read that hangs (a stalled network disk) is left running; the caller gets no reading.

    The call returns while the read is still blocked (it is released only afterwards), a
    second call does not start a second read of the same file, and once the read is done the
    next call delivers its reading.
    """
    slow = SlowRead()
    monkeypatch.setattr(transcript, "read_context", slow)
    readers = make_readers(wait=0.01)
    path = str(a_transcript())
    assert readers.transcript_context(path, None) is None
    assert readers.transcript_context(path, None) is None
    assert (slow.calls, slow.release.is_set()) == (1, False)
    slow.release.set()
    reading = wait_until(lambda: readers.transcript_context(path, None), 10)
    assert reading.context_tokens == 103_530
    assert slow.calls == 1


def test_a_late_reading_of_an_older_file_is_not_delivered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading that finishes after the file changed again is dropped: the file is read anew."""
    slow = SlowRead()
    monkeypatch.setattr(transcript, "read_context", slow)
    readers = make_readers(wait=0.01)
    path = a_transcript()
    assert readers.transcript_context(str(path), None) is None
    with path.open("a") as f:  # the session moves on while the first read hangs
        f.write(
            '{"type":"system","subtype":"compact_boundary","compactMetadata":{"postTokens":9}}\n'
        )
    slow.release.set()
    reading = wait_until(lambda: readers.transcript_context(str(path), None), 10)
    assert (reading.context_tokens, slow.calls) == (9, 2)
