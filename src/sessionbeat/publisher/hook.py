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

``sessionbeat publish --announce`` (installed for SessionStart by ``hooks install --announce``)
sends a SessionStart as ``SA1`` instead of ``SB1`` (same fields): the agent replies ``OK\\n`` as
for any frame, then ``<n>\\n`` and ``n`` bytes, the JSON to print on stdout (``n`` may be 0:
nothing to say). Only what arrives whole within :data:`ANNOUNCE_BUDGET` seconds of the hook's
start is printed; anything else (late, cut, an error) prints nothing, and the event is
delivered as for ``SB1`` either way. An agent older than ``SA1`` answers ``ERR``: the hook sends
the event again as ``SB1`` and prints nothing. The inbox always gets ``SB1``. Other events are
sent as ``SB1`` even with ``--announce`` (told apart without parsing: :func:`is_session_start`).

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
ANNOUNCE_MAGIC = b"SA1"
"""First header word of a hook event whose hook waits for an answer to print (``--announce``)."""
ACK = b"OK"
ANNOUNCE_BUDGET = 0.3
"""Seconds from the hook's start within which the agent's answer must be in, else the hook
prints nothing (bench/bench_announce.py measures the whole process)."""
ANSWER_MAX = 64 * 1024
"""Bytes of an answer at most (the agent sends ~2 KiB at most); a longer one is not printed."""
SESSION_START_KEY = b'"hook_event_name"'
SESSION_START_VALUE = b'"SessionStart"'
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


def _send(
    directory: str, header: bytes, data: bytes, deadline: float | None = None
) -> tuple[bool | None, bytes]:
    """Send one event to the agent; return ``(acknowledged, answer)``.

    ``acknowledged`` is True once the agent said ``OK``, False when it answered something else
    (``ERR``: it refused the frame), None when no agent answered at all. ``deadline`` (a
    ``time.monotonic()`` value) is given for an ``SA1`` frame: the answer that follows the
    ``OK`` is read until then, and returned only if it came whole; else ``b""``.
    """
    if _use_tcp():
        try:
            with open(os.path.join(directory, "agent.tcp"), "rb") as f:
                port_s, token = f.read().split()
        except (OSError, ValueError):
            return None, b""
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
        reply = sock.recv(8 if deadline is None else 4096)
        if not reply.startswith(ACK):
            return (False if reply else None), b""
        if deadline is None:
            return True, b""
        return True, _read_answer(sock, reply, deadline)
    except OSError:
        return None, b""
    finally:
        sock.close()


def _read_answer(sock: "_sock.socket", reply: bytes, deadline: float) -> bytes:
    r"""Read the rest of an ``SA1`` reply until the agent closes, or ``deadline`` passes.

    ``reply`` is what came so far (``OK\n`` and maybe more). Returns the answer's bytes if
    the whole reply is ``OK\n<n>\n`` and exactly ``n`` bytes (at most :data:`ANSWER_MAX`);
    else ``b""``. A deadline passed is not an error: there is just nothing to print.
    """
    chunks = [reply]
    size = len(reply)
    try:
        while size <= ANSWER_MAX + 32:
            left = deadline - time.monotonic()
            if left <= 0:
                return b""
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        else:
            return b""
    except OSError:
        return b""
    head, _, rest = b"".join(chunks).partition(b"\n")
    length, sep, answer = rest.partition(b"\n")
    if head != ACK or not sep or not length.isdigit() or int(length) != len(answer):
        return b""
    return answer


def is_session_start(data: bytes) -> bool:
    """Return True if the raw hook JSON ``data`` has ``"hook_event_name": "SessionStart"``.

    Without parsing it (``json`` costs ~6 ms): Claude Code writes compact JSON, the fixtures are
    pretty-printed, so any JSON whitespace around the colon is accepted. The key with its
    quotes cannot occur inside a JSON string (quotes there are escaped). The agent checks the
    parsed event again before it answers.
    """
    start = data.find(SESSION_START_KEY)
    while start >= 0:
        rest = data[start + len(SESSION_START_KEY) : start + len(SESSION_START_KEY) + 64]
        rest = rest.lstrip(b" \t\r\n")
        if rest.startswith(b":") and rest[1:].lstrip(b" \t\r\n").startswith(SESSION_START_VALUE):
            return True
        start = data.find(SESSION_START_KEY, start + 1)
    return False


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


def deliver(magic: bytes, data: bytes, now_ns: int, deadline: float | None = None) -> bytes:
    """Deliver one raw JSON document to the agent, or to the inbox and start an agent.

    ``magic`` is :data:`MAGIC` (hook event), :data:`STATUSLINE_MAGIC` or :data:`ANNOUNCE_MAGIC`
    (a hook event asking for an answer: give ``deadline``, a ``time.monotonic()`` value);
    ``now_ns`` the time the event was received, in ``time.time_ns()`` units. Returns the
    agent's answer to an ``SA1`` frame (``b""`` for none, and always for other frames). A
    document over :data:`MAX_INPUT` bytes is not delivered: the agent, if one listens, is sent
    its header alone (it counts the refusal) and ``hook-errors.log`` notes it. Raises
    ``OSError`` only if even the inbox cannot be written (callers on the hook path swallow it).
    """
    directory = state_dir()
    pid, ppid = os.getpid(), os.getppid()
    fields = b" %d %d %d %d %d" % (now_ns, pid, ppid, _grandparent(ppid), len(data))
    ask = magic == ANNOUNCE_MAGIC
    plain = (MAGIC if ask else magic) + fields  # what an agent of any version takes
    if len(data) > MAX_INPUT:
        _send(directory, plain, b"")
        _note(directory, f"input over {MAX_INPUT} bytes not delivered (whole or not at all)")
        return b""
    acked, answer = _send(directory, magic + fields, data, deadline if ask else None)
    if acked is False and ask:  # an agent older than SA1 refused it: send it as SB1
        acked, answer = _send(directory, plain, data)
    if acked:
        return answer
    _to_inbox(directory, f"{now_ns:020d}-{pid}", plain, data)
    _start_agent(directory, now_ns)
    return b""


def main(argv: list[str]) -> int:
    """Run the hook: read stdin, deliver it to the agent (or the inbox). Always returns 0.

    ``argv`` is what follows ``publish``: ``["--announce"]`` asks the agent, for a SessionStart
    only, for the context to give the model, and prints it on stdout (see the module doc).
    """
    try:
        if os.environ.get("SESSIONBEAT_DISABLE"):
            return 0
        deadline = time.monotonic() + ANNOUNCE_BUDGET
        now_ns = time.time_ns()
        data = read_stdin()
        if not data.strip():
            return 0
        if "--announce" in argv and is_session_start(data):
            answer = deliver(ANNOUNCE_MAGIC, data, now_ns, deadline)
            if answer:
                sys.stdout.buffer.write(answer)
                sys.stdout.flush()
        else:
            deliver(MAGIC, data, now_ns)
    except BaseException as exc:  # the hook path must never fail Claude Code
        try:  # noqa: SIM105 - contextlib is not imported on the hook path
            _note_error(state_dir(), exc)
        except BaseException:
            pass
    return 0
