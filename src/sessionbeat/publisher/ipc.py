r"""The agent's side of the local hand-off from ``sessionbeat publish`` (see publisher/hook.py).

A threaded stream server (stdlib :mod:`socketserver`) on the Unix socket
``<state_dir>/agent.sock`` or, where there is no ``AF_UNIX`` or when asked, on loopback TCP with a
random token written to ``<state_dir>/agent.tcp``. Each connection carries one frame::

    <SB1|SL1|SA1> <time_ns> <pid> <ppid> <grandparent pid> <length> <token or ->\\n<raw JSON bytes>

The server replies ``OK`` once the frame is queued, whole: ``<length>`` raw bytes, no more, no
less. Anything else gets ``ERR`` and is counted by :class:`Refusal` (the hook then leaves the
event in the inbox): a bad header or token, a frame announcing more than the hook's
``MAX_INPUT`` (32 MiB), a frame cut short, or one that would take the frames held at once past
:data:`FRAMES_BUDGET` bytes (:class:`FrameBudget`; a frame holds its bytes until the agent has
handled it). Events written to ``<state_dir>/inbox/*.evt`` while no agent answered are read
back one at a time with :func:`iter_inbox`; their header may lack ``<length>`` (written by
sessionbeat 0.1.0).

``SA1`` is a hook event (as ``SB1``) whose hook waits for an answer (``publish --announce``):
after ``OK\\n`` the server sends ``<n>\\n`` and the ``n`` bytes that ``on_announce`` returned
for it (``0\\n``: nothing to say), then closes the connection.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sessionbeat.errors import FrameError
from sessionbeat.publisher.hook import ANNOUNCE_MAGIC, MAX_INPUT

log = logging.getLogger(__name__)

HEADER_MAX = 256
"""Bytes of a frame's header line at most (seven numbers and a 32-character token)."""
FRAMES_BUDGET = 2 * MAX_INPUT
"""Bytes of hook frames the agent holds at once, read or queued and not yet handled (64 MiB)."""
READ_TIMEOUT = 2.0
"""Seconds a connection may take to deliver its frame."""


class Refusal(StrEnum):
    """Why the agent answered a frame ``ERR`` (counted per reason in its status file)."""

    BAD = "bad"
    """Not a frame: no or a malformed header, an unknown kind, a wrong token."""
    TOO_LARGE = "too_large"
    """It announces more than ``MAX_INPUT`` bytes (the hook sends such a header alone)."""
    BUSY = "busy"
    """Taking it would hold more than :data:`FRAMES_BUDGET` bytes of frames at once."""
    CUT = "cut"
    """Fewer or more bytes than announced arrived (the hook gave up mid-send)."""


class EventKind(StrEnum):
    """What a frame carries: a hook event (``SB1``) or a status-line reading (``SL1``)."""

    HOOK = "SB1"
    STATUSLINE = "SL1"


@dataclass(frozen=True, slots=True)
class HostEvent:
    """One raw document handed over by a hook or status-line process on this host.

    ``time_ns`` is when the hook process started handling it (``time.time_ns()``, host clock);
    ``pid``/``ppid``/``gppid`` are the hook process, its parent and grandparent (0 if unknown);
    ``raw`` is Claude Code's JSON exactly as received; ``source`` is the inbox file, if any;
    ``held`` the bytes of the server's :class:`FrameBudget` it holds until
    :meth:`IpcServer.release`.
    """

    kind: EventKind
    time_ns: int
    pid: int
    ppid: int
    gppid: int
    raw: bytes
    source: Path | None = None
    held: int = 0

    @property
    def event_id(self) -> tuple[int, int]:
        """``(time_ns, pid)``: identifies a delivery, to drop duplicates (ack lost, inbox)."""
        return (self.time_ns, self.pid)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """A frame's header: kind, hook time and process tree, and the body's length.

    ``length`` is in bytes; None in inbox files of sessionbeat 0.1.0, which had no length.
    ``announce`` is True for an ``SA1`` frame (a hook event whose hook waits for an answer).
    """

    kind: EventKind
    time_ns: int
    pid: int
    ppid: int
    gppid: int
    length: int | None
    announce: bool = False


def parse_header(head: bytes, token: str | None = None) -> FrameHeader:
    """Parse a header line (without its newline) into a :class:`FrameHeader`.

    Seven fields (``<kind> <time_ns> <pid> <ppid> <gppid> <length> <token>``), or six without
    ``<length>``; kind ``SA1`` is a hook event with ``announce`` set. ``token``, when given,
    must equal the frame's (compared in constant time).
    Raises :class:`~sessionbeat.errors.FrameError` on any other shape or a wrong token.
    """
    parts = head.split(b" ")
    if len(parts) not in (6, 7):
        raise FrameError(f"header has {len(parts)} fields, expected 7")
    announce = parts[0] == ANNOUNCE_MAGIC
    try:
        kind = EventKind.HOOK if announce else EventKind(parts[0].decode("ascii"))
        time_ns, pid, ppid, gppid = (int(p) for p in parts[1:5])
        length = int(parts[5]) if len(parts) == 7 else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"bad header {head[:80]!r}") from exc
    if length is not None and length < 0:
        raise FrameError(f"bad length {length}")
    if token is not None and not hmac.compare_digest(parts[-1], token.encode()):
        raise FrameError("wrong token")
    return FrameHeader(kind, time_ns, pid, ppid, gppid, length, announce)


def parse_frame(frame: bytes, token: str | None = None, source: Path | None = None) -> HostEvent:
    """Parse one whole frame (header line and body) into a :class:`HostEvent`.

    ``token`` as for :func:`parse_header`. Raises :class:`~sessionbeat.errors.FrameError` on a
    bad header, an unknown kind, a wrong token, or a body whose size is not the header's length.
    """
    head, sep, raw = frame.partition(b"\n")
    if not sep:
        raise FrameError("no header line")
    header = parse_header(head, token)
    if header.length is not None and header.length != len(raw):
        raise FrameError(f"cut: {len(raw)} bytes of {header.length}")
    return HostEvent(
        header.kind, header.time_ns, header.pid, header.ppid, header.gppid, raw, source
    )


def iter_inbox(inbox: Path) -> Iterator[HostEvent]:
    """Yield the events waiting in ``inbox`` (``*.evt`` files), oldest first, one at a time.

    Files are named ``<time_ns>-<pid>.evt`` so name order is time order; each is read only when
    its turn comes, so the agent holds one at a time however many wait. A file that does not
    parse, or is bigger than any frame may be, is renamed to ``*.bad`` and logged; the caller
    deletes each good file (``source``) once its event is handled.
    """
    if not inbox.is_dir():
        return
    for path in sorted(inbox.glob("*.evt")):
        try:
            event = _read_inbox_file(path)
        except FrameError as exc:
            log.warning("inbox file %s is not an event (%s); kept as .bad", path.name, exc)
            with contextlib.suppress(OSError):
                path.replace(path.with_suffix(".bad"))
            continue
        except OSError as exc:
            log.warning("cannot read inbox file %s: %s", path, exc)
            continue
        yield event


def _read_inbox_file(path: Path) -> HostEvent:
    """Read one inbox file: its header line, then its body in one read (no copy of either)."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_INPUT + HEADER_MAX:
            raise FrameError(f"over {MAX_INPUT} bytes")
        head = f.readline(HEADER_MAX)
        if not head.endswith(b"\n"):
            raise FrameError("no header line")
        header = parse_header(head[:-1])
        raw = f.read()
    if header.length is not None and header.length != len(raw):
        raise FrameError(f"cut: {len(raw)} bytes of {header.length}")
    h = header
    return HostEvent(h.kind, h.time_ns, h.pid, h.ppid, h.gppid, raw, path)


def read_inbox(inbox: Path) -> list[HostEvent]:
    """Return every event :func:`iter_inbox` yields, as a list (all held at once)."""
    return list(iter_inbox(inbox))


class FrameBudget:
    """A byte budget shared by the server's threads: what frames may hold at once.

    :meth:`take` reserves bytes or says no (never blocks); :meth:`give` returns them. Thread-safe.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Reserve ``size`` bytes; False (nothing reserved) if that would pass the limit."""
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give(self, size: int) -> None:
        """Return ``size`` bytes reserved by :meth:`take`."""
        with self._lock:
            self.held -= size


class _Handler(socketserver.StreamRequestHandler):
    """One connection, one frame: header line, then exactly ``<length>`` bytes, then the end.

    The body is read in one ``read(length)`` of the buffered socket file, into one bytes object
    of that size: a frame costs its length in memory, not twice that.
    """

    server: _UnixServer | _TcpServer
    timeout = READ_TIMEOUT

    def handle(self) -> None:
        server = self.server
        try:
            head = self.rfile.readline(HEADER_MAX)
            if not head.endswith(b"\n"):
                raise FrameError("no header line" if len(head) < HEADER_MAX else "header too long")
            header = parse_header(head[:-1], server.token)
        except FrameError as exc:
            self._refuse(Refusal.BAD, str(exc))
            return
        except OSError as exc:
            self._refuse(Refusal.CUT, f"no header: {exc}")
            return
        length = header.length
        if length is None:
            self._refuse(Refusal.BAD, "no length in the header")
            return
        if length > MAX_INPUT:
            self._refuse(Refusal.TOO_LARGE, f"{length} bytes > {MAX_INPUT}")
            return
        if not server.budget.take(length):
            self._refuse(Refusal.BUSY, f"{server.budget.held} bytes of frames held already")
            return
        try:
            raw = self.rfile.read(length)
            if len(raw) < length:
                raise FrameError(f"cut: {len(raw)} bytes of {length}")
            if self.rfile.read(1):
                raise FrameError(f"cut: more than {length} bytes")
        except (FrameError, OSError) as exc:
            server.budget.give(length)
            self._refuse(Refusal.CUT, str(exc))
            return
        h = header
        event = HostEvent(h.kind, h.time_ns, h.pid, h.ppid, h.gppid, raw, held=length)
        server.on_event(event)
        _reply(self.request, b"OK\n")
        if h.announce:
            answer = _announce(server.on_announce, event)
            _reply(self.request, b"%d\n%s" % (len(answer), answer))

    def _refuse(self, refusal: Refusal, detail: str) -> None:
        self.server.on_error(refusal, detail)
        _reply(self.request, b"ERR\n")


def _reply(sock: socket.socket, message: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(message)


def _announce(on_announce: Callable[[HostEvent], bytes] | None, event: HostEvent) -> bytes:
    """Return ``on_announce(event)``, or ``b""`` without one or when it fails (logged)."""
    if on_announce is None:
        return b""
    try:
        return on_announce(event)
    except Exception:
        log.exception("announce: no answer for a SessionStart")
        return b""


class _ServerMixin:
    token: str | None
    budget: FrameBudget
    on_event: Callable[[HostEvent], None]
    on_error: Callable[[Refusal, str], None]
    on_announce: Callable[[HostEvent], bytes] | None


class _UnixServer(_ServerMixin, socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


class _TcpServer(_ServerMixin, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class IpcServer:
    """Accepts hook frames and passes each parsed event to ``on_event`` (from a server thread).

    ``transport`` is ``"unix"`` (``<state_dir>/agent.sock``, mode 0600) or ``"tcp"`` (127.0.0.1,
    random port; ``"<port> <token>"`` written to ``<state_dir>/agent.tcp``, mode 0600).
    ``on_error`` receives the :class:`Refusal` and a detail for each refused frame. Every event
    holds its bytes of the server's :class:`FrameBudget` (``budget`` bytes, default
    :data:`FRAMES_BUDGET`) until :meth:`release`. ``on_announce`` answers ``SA1`` frames
    (called on the connection's thread after ``on_event``; returns the bytes the hook prints,
    ``b""`` for nothing; None: every answer is empty). Call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        state_dir: Path,
        on_event: Callable[[HostEvent], None],
        on_error: Callable[[Refusal, str], None],
        transport: str | None = None,
        budget: int = FRAMES_BUDGET,
        on_announce: Callable[[HostEvent], bytes] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.transport = transport or ("unix" if hasattr(socket, "AF_UNIX") else "tcp")
        self.budget = FrameBudget(budget)
        self._on_event = on_event
        self._on_error = on_error
        self._on_announce = on_announce
        self._server: _UnixServer | _TcpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def socket_path(self) -> Path:
        """The Unix socket path."""
        return self.state_dir / "agent.sock"

    @property
    def tcp_file(self) -> Path:
        """The file telling hooks the TCP port and token."""
        return self.state_dir / "agent.tcp"

    def start(self) -> None:
        """Bind and serve in a background thread. Raises ``OSError`` if binding fails."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        server: _UnixServer | _TcpServer
        if self.transport == "unix":
            self.socket_path.unlink(missing_ok=True)  # stale: we hold the agent lock
            old = os.umask(0o077)
            try:
                server = _UnixServer(str(self.socket_path), _Handler)
            finally:
                os.umask(old)
            server.token = None
        else:
            server = _TcpServer(("127.0.0.1", 0), _Handler)
            server.token = secrets.token_hex(16)
            port = server.server_address[1]
            tmp = self.tcp_file.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"{port} {server.token}\n")
            tmp.replace(self.tcp_file)
        server.budget = self.budget
        server.on_event = self._on_event
        server.on_error = self._on_error
        server.on_announce = self._on_announce
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sb-ipc", daemon=True
        )
        self._thread.start()
        log.info("agent listening on %s", self.address())

    def release(self, event: HostEvent) -> None:
        """Give back the budget ``event`` holds (call once it is handled; inbox events hold 0)."""
        if event.held:
            self.budget.give(event.held)

    def address(self) -> str:
        """Where the server listens, for logs (socket path or ``127.0.0.1:<port>``)."""
        if self._server is None:
            return "-"
        if self.transport == "unix":
            return str(self.socket_path)
        return f"127.0.0.1:{self._server.server_address[1]}"  # type: ignore[index]

    def stop(self) -> None:
        """Stop serving and remove the socket / port file."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self.transport == "unix":
            self.socket_path.unlink(missing_ok=True)
        else:
            self.tcp_file.unlink(missing_ok=True)
