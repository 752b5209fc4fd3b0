r"""The agent's side of the local hand-off from ``sessionbeat publish`` (see publisher/hook.py).

A threaded stream server (stdlib :mod:`socketserver`) on the Unix socket
``<state_dir>/agent.sock`` or, where there is no ``AF_UNIX`` or when asked, on loopback TCP with a
random token written to ``<state_dir>/agent.tcp``. Each connection carries one frame::

    <SB1|SL1> <time_ns> <pid> <ppid> <grandparent pid> <token or ->\\n<raw JSON bytes>

The server replies ``OK`` once the frame is queued; bad frames get ``ERR`` and are counted.
Events written to ``<state_dir>/inbox/*.evt`` while no agent ran are read back with
:func:`read_inbox`.
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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sessionbeat.errors import FrameError

log = logging.getLogger(__name__)

MAX_FRAME = 32 * 1024 * 1024 + 256
"""Bytes accepted per frame (the hook reads at most 32 MiB of stdin)."""
READ_TIMEOUT = 2.0
"""Seconds a connection may take to deliver its frame."""


class EventKind(StrEnum):
    """What a frame carries: a hook event (``SB1``) or a status-line reading (``SL1``)."""

    HOOK = "SB1"
    STATUSLINE = "SL1"


@dataclass(frozen=True, slots=True)
class HostEvent:
    """One raw document handed over by a hook or status-line process on this host.

    ``time_ns`` is when the hook process started handling it (``time.time_ns()``, host clock);
    ``pid``/``ppid``/``gppid`` are the hook process, its parent and grandparent (0 if unknown);
    ``raw`` is Claude Code's JSON exactly as received; ``source`` is the inbox file, if any.
    """

    kind: EventKind
    time_ns: int
    pid: int
    ppid: int
    gppid: int
    raw: bytes
    source: Path | None = None

    @property
    def event_id(self) -> tuple[int, int]:
        """``(time_ns, pid)``: identifies a delivery, to drop duplicates (ack lost, inbox)."""
        return (self.time_ns, self.pid)


def parse_frame(frame: bytes, token: str | None = None, source: Path | None = None) -> HostEvent:
    """Parse one frame into a :class:`HostEvent`.

    ``token``, when given, must equal the frame's token (compared in constant time). Raises
    :class:`~sessionbeat.errors.FrameError` on a bad header, an unknown kind or a wrong token.
    """
    head, sep, raw = frame.partition(b"\n")
    if not sep:
        raise FrameError("no header line")
    parts = head.split(b" ")
    if len(parts) != 6:
        raise FrameError(f"header has {len(parts)} fields, expected 6")
    try:
        kind = EventKind(parts[0].decode("ascii"))
        time_ns, pid, ppid, gppid = (int(p) for p in parts[1:5])
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(f"bad header {head[:80]!r}") from exc
    if token is not None and not hmac.compare_digest(parts[5], token.encode()):
        raise FrameError("wrong token")
    return HostEvent(kind, time_ns, pid, ppid, gppid, raw, source)


def read_inbox(inbox: Path) -> list[HostEvent]:
    """Return the events waiting in ``inbox`` (``*.evt`` files), oldest first.

    Files are named ``<time_ns>-<pid>.evt`` so name order is time order. A file that does not
    parse is renamed to ``*.bad`` and logged; the caller deletes each good file (``source``)
    once its event is handled.
    """
    if not inbox.is_dir():
        return []
    events = []
    for path in sorted(inbox.glob("*.evt")):
        try:
            events.append(parse_frame(path.read_bytes(), source=path))
        except FrameError as exc:
            log.warning("inbox file %s is not an event (%s); kept as .bad", path.name, exc)
            path.replace(path.with_suffix(".bad"))
        except OSError as exc:
            log.warning("cannot read inbox file %s: %s", path, exc)
    return events


class _Handler(socketserver.BaseRequestHandler):
    server: _UnixServer | _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(READ_TIMEOUT)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_FRAME:
                    raise FrameError(f"frame over {MAX_FRAME} bytes")
                chunks.append(chunk)
            event = parse_frame(b"".join(chunks), self.server.token)
        except (FrameError, OSError) as exc:
            self.server.on_error(str(exc))
            _reply(sock, b"ERR\n")
            return
        self.server.on_event(event)
        _reply(sock, b"OK\n")


def _reply(sock: socket.socket, message: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(message)


class _ServerMixin:
    token: str | None
    on_event: Callable[[HostEvent], None]
    on_error: Callable[[str], None]


class _UnixServer(_ServerMixin, socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


class _TcpServer(_ServerMixin, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class IpcServer:
    """Accepts hook frames and passes each parsed event to ``on_event`` (from a server thread).

    ``transport`` is ``"unix"`` (``<state_dir>/agent.sock``, mode 0600) or ``"tcp"`` (127.0.0.1,
    random port; ``"<port> <token>"`` written to ``<state_dir>/agent.tcp``, mode 0600).
    ``on_error`` receives a reason for each rejected frame. Call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        state_dir: Path,
        on_event: Callable[[HostEvent], None],
        on_error: Callable[[str], None],
        transport: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.transport = transport or ("unix" if hasattr(socket, "AF_UNIX") else "tcp")
        self._on_event = on_event
        self._on_error = on_error
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
        server.on_event = self._on_event
        server.on_error = self._on_error
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="sb-ipc", daemon=True
        )
        self._thread.start()
        log.info("agent listening on %s", self.address())

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
