"""The agent's frame parser and inbox (publisher/ipc.py)."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

from sessionbeat.errors import FrameError
from sessionbeat.publisher.hook import MAX_INPUT
from sessionbeat.publisher.ipc import (
    FRAMES_BUDGET,
    HEADER_MAX,
    EventKind,
    HostEvent,
    IpcServer,
    Refusal,
    iter_inbox,
    parse_frame,
    read_inbox,
)
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


def test_a_frame_must_carry_as_many_bytes_as_its_header_says() -> None:
    """The header's length makes a cut frame visible: refused, never taken as an event."""
    event = parse_frame(b'SB1 1 2 3 4 18 -\n{"session_id":"a"}')
    assert (event.raw, event.pid) == (b'{"session_id":"a"}', 2)
    with pytest.raises(FrameError, match="cut"):
        parse_frame(b'SB1 1 2 3 4 99 -\n{"session_id":"a"}')


class Server:
    """A real IpcServer on a Unix socket, recording what it queues and what it refuses."""

    def __init__(self, budget: int = FRAMES_BUDGET) -> None:
        self.events: list[HostEvent] = []
        self.refused: list[Refusal] = []
        self.server = IpcServer(
            short_tmpdir(), self.events.append, self.on_error, transport="unix", budget=budget
        )
        self.server.start()

    def on_error(self, refusal: Refusal, detail: str) -> None:
        self.refused.append(refusal)

    def send(self, data: bytes, *, shut: bool = True) -> bytes:
        """Send raw bytes as a client; return the reply (b"" if none)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.server.socket_path))
            with contextlib.suppress(OSError):  # refused early: the agent closed first
                sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
            try:
                return sock.recv(8)
            except OSError:
                return b""

    def close(self) -> None:
        self.server.stop()


def frame(body: bytes, length: int | None = None) -> bytes:
    """A hook frame with a length header (``length`` may lie)."""
    size = len(body) if length is None else length
    return b"SB1 1 %d 3 4 %d -\n" % (os.getpid(), size) + body


def test_server_takes_frames_whole_and_refuses_cut_or_oversized_ones() -> None:
    """Whole frames are queued; a cut one, one over MAX_INPUT or one without a length are not."""
    server = Server()
    try:
        assert server.send(frame(b'{"session_id":"a"}')) == b"OK\n"
        # The hook gave up mid-send: fewer bytes than announced, then the end of the stream.
        assert server.send(frame(b'{"session_id":"b"', length=100)) == b"ERR\n"
        assert server.send(frame(b"", length=MAX_INPUT + 1)) == b"ERR\n"
        assert server.send(b'SB1 1 2 3 4 -\n{"session_id":"c"}') == b"ERR\n"
        assert server.send(frame(b'{"session_id":"d"}', length=5)) == b"ERR\n"  # too many
    finally:
        server.close()
    assert [e.raw for e in server.events] == [b'{"session_id":"a"}']
    assert server.refused == [Refusal.CUT, Refusal.TOO_LARGE, Refusal.BAD, Refusal.CUT]


def test_frames_hold_the_budget_until_released() -> None:
    """Past the byte budget a frame is refused as busy; once handled, its bytes are free again."""
    server = Server(budget=100)
    body = b'{"session_id":"a","pad":"' + b"x" * 40 + b'"}'
    try:
        assert server.send(frame(body)) == b"OK\n"
        assert server.server.budget.held == len(body)
        assert server.send(frame(body)) == b"ERR\n"  # 2 x 68 bytes > 100
        server.server.release(server.events[0])
        assert server.send(frame(body)) == b"OK\n"
    finally:
        server.close()
    assert server.refused == [Refusal.BUSY]
    assert [e.held for e in server.events] == [len(body), len(body)]


def test_inbox_is_read_one_event_at_a_time_and_oversized_files_set_aside() -> None:
    """The inbox yields lazily; a file bigger than any frame may be is renamed .bad unread."""
    inbox = short_tmpdir() / "inbox"
    inbox.mkdir()
    (inbox / "00000000000000000001-1.evt").write_bytes(b'SB1 1 1 0 0 7 -\n{"n":1}')
    with (inbox / "00000000000000000002-1.evt").open("wb") as f:
        f.truncate(MAX_INPUT + HEADER_MAX + 1)  # sparse: no disk used
    events = iter_inbox(inbox)
    first = next(events)
    assert first.raw == b'{"n":1}'
    assert (inbox / "00000000000000000002-1.evt").exists()  # not looked at yet
    assert list(events) == []
    assert (inbox / "00000000000000000002-1.bad").exists()
