r"""The hook fast path: ``sessionbeat publish`` hands Claude Code's raw hook JSON to the agent.

Claude Code runs this for every hook event, so it must cost next to nothing: it imports only
builtin modules (``_socket`` is the C module under :mod:`socket`; ``socket.py`` itself pulls in
``enum`` and ``selectors`` for ~5.5 ms here), does not parse the JSON (``json`` alone costs
~6 ms; the agent parses), prints nothing, never exits non-zero and never waits long.

Wire format to the agent (one connection per event, agent replies ``OK``)::

    SB1 <time_ns> <pid> <ppid> <grandparent pid or 0> <length> <token or ->\\n<raw stdin bytes>

(``SL1`` instead of ``SB1`` for a status-line reading.) ``<length>`` is the byte count of the raw
bytes: the agent takes a frame whole or not at all, so a hook that gives up mid-send (the agent
stalls past :data:`ACK_TIMEOUT`) leaves nothing cut behind, and its inbox copy is the one that
counts. An input over :data:`MAX_INPUT` bytes is not delivered at all (whole or not at all, as
the agent would refuse it): the agent is told its length, to count it, and a line goes to
``<state_dir>/hook-errors.log``.

Transport: the Unix socket ``<state_dir>/agent.sock``; where there is no ``AF_UNIX`` (Windows) or
``SESSIONBEAT_AGENT_TRANSPORT=tcp``, loopback TCP on the port and token the agent wrote to
``<state_dir>/agent.tcp``. If no agent answers, the event is written to ``<state_dir>/inbox/``
(which the agent drains in order) and an agent is started detached; the agent's lock makes
sure only one runs (``SESSIONBEAT_AGENT_AUTOSTART=0`` turns that off; ``SESSIONBEAT_DISABLE=1``
turns the whole hook off).
"""

import os
import sys
import time

try:  # CPython: the C module, without socket.py's imports
    import _socket as _sock
except ImportError:  # pragma: no cover - other Pythons
    import socket as _sock  # type: ignore[no-redef]

MAGIC = b"SB1"
"""First header word of a hook event."""
STATUSLINE_MAGIC = b"SL1"
"""First header word of a status-line reading (``sessionbeat statusline``)."""
ACK = b"OK"
ACK_TIMEOUT = 0.5
"""Seconds to wait for the agent's acknowledgement before falling back to the inbox."""
MAX_INPUT = 32 * 1024 * 1024
"""Bytes of one hook input at most, the one limit of the hand-off: the hook delivers nothing
bigger and the agent refuses frames announcing more (``publisher/ipc.py``). A Write tool's
content, or an Edit's whole original file in ``tool_response``, can be megabytes."""
SPAWN_GRACE_NS = 10 * 1_000_000_000
"""Do not start another agent within this many nanoseconds of the last start."""
ERROR_LOG_MAX = 64 * 1024


def state_dir() -> str:
    """Return sessionbeat's state dir exactly as ``platformdirs.user_state_dir`` would.

    ``SESSIONBEAT_STATE_DIR`` wins. Mirrors platformdirs (``appauthor=False``) so the hook does
    not import it (~25 ms); a test checks both agree.
    """
    env = os.environ.get("SESSIONBEAT_STATE_DIR")
    if env:
        return env
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "sessionbeat")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "sessionbeat")
    base = os.environ.get("XDG_STATE_HOME", "").strip() or os.path.join(home, ".local", "state")
    return os.path.join(base, "sessionbeat")


def _grandparent(ppid: int) -> int:
    """Return the parent of ``ppid`` from /proc (Linux), else 0.

    Claude Code may run the hook through a shell that is gone by the time the agent looks, so
    the hook passes one more ancestor along.
    """
    try:
        with open(f"/proc/{ppid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2 :].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _use_tcp() -> bool:
    return not hasattr(_sock, "AF_UNIX") or os.environ.get("SESSIONBEAT_AGENT_TRANSPORT") == "tcp"


def read_stdin() -> bytes:
    """Return the bytes on stdin, at most one more than :data:`MAX_INPUT`.

    One byte more lets :func:`deliver` tell an input over the limit. No stdin, or a terminal,
    gives ``b""``.
    """
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        return b""
    return stdin.buffer.read(MAX_INPUT + 1)


def _send(directory: str, header: bytes, data: bytes) -> bool:
    """Send one event to the agent; True once the agent acknowledged it."""
    if _use_tcp():
        try:
            with open(os.path.join(directory, "agent.tcp"), "rb") as f:
                port_s, token = f.read().split()
        except (OSError, ValueError):
            return False
        sock = _sock.socket(_sock.AF_INET, _sock.SOCK_STREAM)
        address: tuple[str, int] | str = ("127.0.0.1", int(port_s))
        header = header + b" " + token
    else:
        sock = _sock.socket(_sock.AF_UNIX, _sock.SOCK_STREAM)
        address = os.path.join(directory, "agent.sock")
        header = header + b" -"
    try:
        sock.settimeout(ACK_TIMEOUT)
        sock.connect(address)
        sock.sendall(header + b"\n" + data)
        sock.shutdown(_sock.SHUT_WR)
        return sock.recv(8).startswith(ACK)
    except OSError:
        return False
    finally:
        sock.close()


def _to_inbox(directory: str, name: str, header: bytes, data: bytes) -> None:
    """Write the event to ``<state_dir>/inbox/<name>.evt`` atomically (tmp file + rename)."""
    inbox = os.path.join(directory, "inbox")
    os.makedirs(inbox, exist_ok=True)
    final = os.path.join(inbox, name + ".evt")
    tmp = final + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header + b" -\n" + data)
    os.replace(tmp, final)


def _start_agent(directory: str, now_ns: int) -> None:
    """Start ``sessionbeat agent run`` detached, unless one was started moments ago."""
    if os.environ.get("SESSIONBEAT_AGENT_AUTOSTART") == "0":
        return
    marker = os.path.join(directory, "agent.spawn")
    try:
        if now_ns - os.stat(marker).st_mtime_ns < SPAWN_GRACE_NS:
            return
    except OSError:
        pass
    with open(marker, "wb"):
        pass
    import subprocess  # only on this rare path

    kwargs: dict[str, object] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = 0x00000008 | 0x00000200  # DETACHED_PROCESS | NEW_PROCESS_GROUP
    else:
        kwargs["start_new_session"] = True
    subprocess.Popen(
        [sys.executable, "-m", "sessionbeat", "agent", "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        **kwargs,  # type: ignore[call-overload]
    )


def _note_error(directory: str, exc: BaseException) -> None:
    """Append one line about an unexpected failure to ``<state_dir>/hook-errors.log``."""
    _note(directory, f"{type(exc).__name__}: {exc}")


def _note(directory: str, text: str) -> None:
    """Append ``<epoch s> <text>`` to ``<state_dir>/hook-errors.log`` (kept under 64 KiB)."""
    try:
        path = os.path.join(directory, "hook-errors.log")
        if os.path.exists(path) and os.path.getsize(path) > ERROR_LOG_MAX:
            return
        os.makedirs(directory, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{time.time():.3f} {text}\n")
    except BaseException:
        pass


def deliver(magic: bytes, data: bytes, now_ns: int) -> None:
    """Deliver one raw JSON document to the agent, or to the inbox and start an agent.

    ``magic`` is :data:`MAGIC` (hook event) or :data:`STATUSLINE_MAGIC`; ``now_ns`` the time the
    event was received, in ``time.time_ns()`` units. A document over :data:`MAX_INPUT` bytes is
    not delivered: the agent, if one listens, is sent its header alone (it counts the refusal)
    and ``hook-errors.log`` notes it. Raises ``OSError`` only if even the inbox cannot be
    written (callers on the hook path swallow it).
    """
    directory = state_dir()
    pid, ppid = os.getpid(), os.getppid()
    header = b"%s %d %d %d %d %d" % (magic, now_ns, pid, ppid, _grandparent(ppid), len(data))
    if len(data) > MAX_INPUT:
        _send(directory, header, b"")
        _note(directory, f"input over {MAX_INPUT} bytes not delivered (whole or not at all)")
        return
    if _send(directory, header, data):
        return
    _to_inbox(directory, f"{now_ns:020d}-{pid}", header, data)
    _start_agent(directory, now_ns)


def main(argv: list[str]) -> int:
    """Run the hook: read stdin, deliver it to the agent (or the inbox). Always returns 0."""
    try:
        if os.environ.get("SESSIONBEAT_DISABLE"):
            return 0
        now_ns = time.time_ns()
        data = read_stdin()
        if data.strip():
            deliver(MAGIC, data, now_ns)
    except BaseException as exc:  # the hook path must never fail Claude Code
        try:  # noqa: SIM105 - contextlib is not imported on the hook path
            _note_error(state_dir(), exc)
        except BaseException:
            pass
    return 0
