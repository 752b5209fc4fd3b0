"""The agent's frame parser and inbox (publisher/ipc.py)."""

from __future__ import annotations

import pytest

from sessionbeat.errors import FrameError
from sessionbeat.publisher.ipc import EventKind, parse_frame, read_inbox
from tests.conftest import short_tmpdir


def test_parses_a_hook_frame() -> None:
    """A hook frame yields kind, times, the process tree and the raw bytes untouched."""
    event = parse_frame(b'SB1 1700000000123456789 10 9 8 -\n{"session_id":"a"}\n')
    assert event.kind is EventKind.HOOK
    assert (event.time_ns, event.pid, event.ppid, event.gppid) == (1700000000123456789, 10, 9, 8)
    assert event.raw == b'{"session_id":"a"}\n'
    assert event.event_id == (1700000000123456789, 10)


def test_parses_a_statusline_frame() -> None:
    """The status-line command's frames are told apart by their first word."""
    assert parse_frame(b"SL1 1 2 3 0 -\n{}").kind is EventKind.STATUSLINE


@pytest.mark.parametrize(
    "frame",
    [b"", b"no newline", b"SB1 1 2 3\n{}", b"XX1 1 2 3 4 -\n{}", b"SB1 a b c d -\n{}"],
)
def test_rejects_malformed_frames(frame: bytes) -> None:
    """Frames without the header shape are refused with FrameError."""
    with pytest.raises(FrameError):
        parse_frame(frame)


def test_token_must_match() -> None:
    """On TCP the token in the frame must equal the agent's."""
    frame = b"SB1 1 2 3 4 secret\n{}"
    assert parse_frame(frame, token="secret").pid == 2
    with pytest.raises(FrameError, match="wrong token"):
        parse_frame(frame, token="other")


def test_inbox_is_read_oldest_first_and_bad_files_are_set_aside() -> None:
    """Inbox events come back in time order; a corrupt file is renamed .bad, not retried."""
    inbox = short_tmpdir() / "inbox"
    inbox.mkdir()
    (inbox / "00000000000000000002-1.evt").write_bytes(b'SB1 2 1 0 0 -\n{"n":2}')
    (inbox / "00000000000000000001-1.evt").write_bytes(b'SB1 1 1 0 0 -\n{"n":1}')
    (inbox / "00000000000000000003-1.evt").write_bytes(b"garbage")
    events = read_inbox(inbox)
    assert [e.raw for e in events] == [b'{"n":1}', b'{"n":2}']
    assert events[0].source == inbox / "00000000000000000001-1.evt"
    assert (inbox / "00000000000000000003-1.bad").exists()
    assert read_inbox(short_tmpdir() / "missing") == []
