r"""A scripted, offline stand-in for the Anthropic Messages API, for the real Claude Code CLI.

Claude Code 2.1.328, pointed at this server with ``ANTHROPIC_BASE_URL``, sends only
``POST /v1/messages?beta=true`` with ``"stream": true``; every request carries the whole
conversation so far (``messages``), so this server keeps no conversation state: it picks each
answer from a *scenario* by looking at the request alone.

Wire format (Anthropic Messages API streaming docs, "Streaming Messages", and the behaviour
measured with Claude Code 2.1.328): the response is ``text/event-stream``; each event is
``event: <name>\ndata: <json>\n\n``, in the order ``message_start`` (carrying
``message.usage``), then for each content block ``content_block_start`` /
``content_block_delta`` (``text_delta``, or ``input_json_delta`` with ``partial_json`` for a
``tool_use`` block) / ``content_block_stop``, then ``message_delta`` (``delta.stop_reason``,
``usage.output_tokens``) and ``message_stop``. Errors use the API's JSON error shape
``{"type": "error", "error": {"type": ..., "message": ...}}``.

Scenarios are JSON files in ``tests/real_client/scenarios/<name>.json``::

    {"description": "what the scenario plays",
     "replies": [
       {"name": "optional label",
        "when": {"assistant_messages": 0},
        "delay_seconds": 0,
        "content": [{"type": "text", "text": "Let me run it."},
                    {"type": "tool_use", "name": "Bash",
                     "input": {"command": "touch made.txt", "description": "make a file"}}],
        "usage": {"input_tokens": 12000, "cache_creation_input_tokens": 3000,
                  "cache_read_input_tokens": 500, "output_tokens": 5}},
       ...]}

The first reply whose ``when`` holds is sent. ``when`` is a conjunction of these optional keys
(a reply with no ``when`` or an empty one is a fallback that matches every request):

``assistant_messages`` (int)
    number of ``assistant`` messages in the request: 0 for a conversation's first call, 1 after
    one answer, ... (main chain and subagent each count their own conversation).
``first_user_text_contains`` (str)
    the text of the first user message contains this. A subagent's first user message is the
    Agent tool's ``prompt``, so a marker word in that prompt picks out the subagent's requests.
``last_user_text_contains`` (str)
    the text of the last user message contains this (e.g. the latest prompt typed in a session).
``compact`` (bool)
    whether the request is the conversation summary that ``/compact`` asks for (auto-compact
    was not tried); see :func:`is_compact_request`.
``subagent`` (bool)
    whether the request comes from a subagent rather than the main conversation; see
    :func:`is_subagent_request`.

Usage numbers are sent verbatim (Claude Code writes them into the transcript);
``usage.output_tokens`` is also the ``message_delta`` usage. ``stop_reason`` is ``tool_use`` when
the content has a ``tool_use`` block, else ``end_turn``, unless the reply sets ``stop_reason``.
``delay_seconds`` holds the reply back before anything is sent, which keeps a turn "working".

Only the standard library is used (``http.server.ThreadingHTTPServer``), bound to 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

SCENARIOS = Path(__file__).parent / "scenarios"
"""Folder of the scenario JSON files, loaded by name with :meth:`Scenario.load`."""

COMPACT_MARKER = "Your task is to create a detailed summary of the conversation so far"
"""A sentence of the instruction that Claude Code 2.1.328 sends as the last user message (a plain
string, after "CRITICAL: Respond with TEXT ONLY ...") of the ``/compact`` summarization request
(measured). The answer should be ``<analysis>...</analysis>`` then ``<summary>...</summary>``
text: Claude Code then sends the request once (with a plain "ok" it asked twice)."""

SUBAGENT_SYSTEM_MARKER = "You are an agent for Claude Code"
"""Text of the system prompt of a subagent started by the Agent tool in Claude Code 2.1.328
(measured); the main conversation's system prompt does not contain it."""

DEFAULT_USAGE: dict[str, int] = {
    "input_tokens": 1000,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 10,
}
"""Token usage sent for a reply that gives none (tokens)."""

_WHEN_KEYS = {
    "assistant_messages": int,
    "first_user_text_contains": str,
    "last_user_text_contains": str,
    "compact": bool,
    "subagent": bool,
}


def message_text(message: Mapping[str, Any]) -> str:
    """Return the text of one Messages API message: its string content, or its text blocks.

    Takes a message dict (``{"role": ..., "content": str | [blocks]}``); text blocks are joined
    with newlines, other blocks (``tool_result``, ``image``, ...) are left out.
    """
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "\n".join(
        b["text"]
        for b in content
        if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
    )


def _system_text(body: Mapping[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return message_text({"content": system})
    return ""


def is_compact_request(body: Mapping[str, Any]) -> bool:
    """Tell whether a request body is the conversation summary asked for by ``/compact``.

    Claude Code 2.1.328 sends the whole conversation (main system prompt, same model) followed
    by a user message containing :data:`COMPACT_MARKER` (measured); returns True for such a body.
    """
    messages = body.get("messages") or []
    return bool(messages) and COMPACT_MARKER in message_text(messages[-1])


def is_subagent_request(body: Mapping[str, Any]) -> bool:
    """Tell whether a request body comes from a subagent (Agent tool) of Claude Code 2.1.328.

    Returns True when the system prompt contains :data:`SUBAGENT_SYSTEM_MARKER` (measured).
    """
    return SUBAGENT_SYSTEM_MARKER in _system_text(body)


@dataclass(frozen=True)
class RequestFacts:
    """What the ``when`` conditions of a scenario look at, derived from one request body."""

    assistant_messages: int
    """Number of ``assistant`` messages in ``messages``."""
    first_user_text: str
    """Text of the first user message (see :func:`message_text`)."""
    last_user_text: str
    """Text of the last user message."""
    compact: bool
    """Whether this is the ``/compact`` summarization request."""
    subagent: bool
    """Whether a subagent sent it."""
    model: str | None
    """The ``model`` field."""

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RequestFacts:
        """Derive the facts from a parsed request body (a Messages API ``POST`` JSON)."""
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        users = [m for m in messages if m.get("role") == "user"]
        model = body.get("model")
        return cls(
            assistant_messages=sum(1 for m in messages if m.get("role") == "assistant"),
            first_user_text=message_text(users[0]) if users else "",
            last_user_text=message_text(users[-1]) if users else "",
            compact=is_compact_request(body),
            subagent=is_subagent_request(body),
            model=model if isinstance(model, str) else None,
        )

    def summary(self) -> str:
        """Return a one-line description of the request for error messages."""
        return (
            f"assistant_messages={self.assistant_messages}, compact={self.compact}, "
            f"subagent={self.subagent}, first user text {self.first_user_text[-120:]!r}, "
            f"last user text {self.last_user_text[-120:]!r}"
        )


@dataclass(frozen=True)
class Reply:
    """One scripted answer of a scenario (see the module docstring for the JSON keys)."""

    content: list[dict[str, Any]]
    """Content blocks: ``{"type": "text", "text"}`` or ``{"type": "tool_use", "name",
    "input"[, "id"]}``."""
    when: dict[str, Any] = field(default_factory=dict)
    """Conditions on the request, all of which must hold; empty matches every request."""
    usage: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_USAGE))
    """Token usage sent in ``message_start`` (tokens)."""
    delay_seconds: float = 0.0
    """Time to wait before the reply starts (seconds)."""
    stop_reason: str | None = None
    """Explicit ``stop_reason``; derived from the content when None."""
    name: str | None = None
    """Optional label, recorded with each request it answers."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "reply") -> Reply:
        """Build a reply from its scenario JSON object; raises ``ValueError`` naming ``where``."""
        unknown = set(data) - {"content", "when", "usage", "delay_seconds", "stop_reason", "name"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        content = data.get("content")
        if not isinstance(content, list) or not content:
            raise ValueError(f"{where}: 'content' must be a non-empty list of blocks")
        for i, block in enumerate(content):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text" and isinstance(block.get("text"), str):
                continue
            if kind == "tool_use" and isinstance(block.get("name"), str):
                if not isinstance(block.get("input", {}), dict):
                    raise ValueError(f"{where}: content[{i}].input must be an object")
                continue
            raise ValueError(f"{where}: content[{i}] must be a text or tool_use block: {block!r}")
        when = dict(data.get("when") or {})
        for key, value in when.items():
            expected = _WHEN_KEYS.get(key)
            if expected is None:
                raise ValueError(
                    f"{where}: unknown 'when' key {key!r} (known: {sorted(_WHEN_KEYS)})"
                )
            if type(value) is not expected:
                raise ValueError(f"{where}: 'when.{key}' must be {expected.__name__}")
        usage = {**DEFAULT_USAGE, **(data.get("usage") or {})}
        return cls(
            content=[dict(b) for b in content],
            when=when,
            usage=usage,
            delay_seconds=float(data.get("delay_seconds", 0.0)),
            stop_reason=data.get("stop_reason"),
            name=data.get("name"),
        )

    def matches(self, facts: RequestFacts) -> bool:
        """Tell whether every condition of ``when`` holds for a request with these facts."""
        w = self.when
        checks = (
            ("assistant_messages", lambda v: facts.assistant_messages == v),
            ("first_user_text_contains", lambda v: v in facts.first_user_text),
            ("last_user_text_contains", lambda v: v in facts.last_user_text),
            ("compact", lambda v: facts.compact == v),
            ("subagent", lambda v: facts.subagent == v),
        )
        return all(check(w[key]) for key, check in checks if key in w)


@dataclass(frozen=True)
class Scenario:
    """An ordered list of scripted replies; the first one whose ``when`` holds answers."""

    name: str
    replies: list[Reply]
    description: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], name: str = "inline") -> Scenario:
        """Build a scenario from its JSON object; raises ``ValueError`` on a malformed one."""
        replies = data.get("replies")
        if not isinstance(replies, list) or not replies:
            raise ValueError(f"scenario {name!r}: 'replies' must be a non-empty list")
        return cls(
            name=name,
            replies=[
                Reply.from_dict(r, where=f"scenario {name!r} replies[{i}]")
                for i, r in enumerate(replies)
            ],
            description=str(data.get("description", "")),
        )

    @classmethod
    def load(cls, name: str, folder: Path = SCENARIOS) -> Scenario:
        """Load ``<folder>/<name>.json``; raises ``FileNotFoundError`` or ``ValueError``."""
        path = folder / f"{name}.json"
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("*.json"))
            raise FileNotFoundError(f"no scenario {name!r} at {path} (known: {known})")
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), name=name)

    def choose(self, facts: RequestFacts) -> int | None:
        """Return the index of the first reply matching a request, or None."""
        return next((i for i, r in enumerate(self.replies) if r.matches(facts)), None)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received, with what it answered."""

    time: float
    """When it arrived (epoch seconds, ``time.time()``)."""
    method: str
    path: str
    """Request path including the query, e.g. ``/v1/messages?beta=true``."""
    body: dict[str, Any] | None
    """Parsed JSON body, or None when it was absent or not JSON."""
    facts: RequestFacts | None
    """What the ``when`` conditions saw; None when there was no usable body."""
    reply_index: int | None
    """Index of the chosen reply in ``Scenario.replies``; None when nothing was sent from it."""
    reply_name: str | None
    status: int
    """HTTP status answered (200 for a streamed reply)."""
    error: str | None = None
    """Error message sent (404/400/500), or a note such as a client disconnect."""


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_events(reply: Reply, model: str | None) -> list[bytes]:
    """Return the SSE events (encoded) that stream ``reply`` as a Messages API answer.

    ``model`` is echoed in ``message_start``. Tool-use blocks without an ``id`` get a fresh
    ``toolu_…`` id.
    """
    events = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_" + uuid.uuid4().hex[:24],
                    "type": "message",
                    "role": "assistant",
                    "model": model or "claude-opus-5-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": dict(reply.usage),
                },
            },
        )
    ]
    stop_reason = "end_turn"
    for index, block in enumerate(reply.content):
        if block["type"] == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block["text"]}
        else:
            stop_reason = "tool_use"
            tool_id = block.get("id") or "toolu_" + uuid.uuid4().hex[:24]
            start = {"type": "tool_use", "id": tool_id, "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}
        events += [
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            ),
            _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            ),
            _sse("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason or stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": reply.usage.get("output_tokens", 0)},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: MessagesAPI


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet (the server records requests instead)."""

    def do_GET(self) -> None:
        """Answer every GET with 404 (Claude Code does not send any)."""
        self.server.api._handle(self, None)

    def do_POST(self) -> None:
        """Answer ``POST /v1/messages`` from the scenario; anything else with 404."""
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.server.api._handle(self, raw)


class MessagesAPI:
    """The scripted Messages API server: ``with MessagesAPI("bash_touch") as api: api.url``.

    Takes a :class:`Scenario` or a scenario name (loaded with :meth:`Scenario.load`). Binds a
    free port on 127.0.0.1 when started; serves each request on its own thread; records every
    request in :attr:`requests`. Unknown paths get 404, a request no reply matches gets 500 with
    a message saying what the request looked like (also recorded), with ``x-should-retry:
    false`` so that the Anthropic client in Claude Code does not retry it.
    """

    def __init__(self, scenario: Scenario | str) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.load(scenario)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL for ``ANTHROPIC_BASE_URL``, e.g. ``http://127.0.0.1:40123``.

        Raises ``RuntimeError`` when the server is not running.
        """
        if self._server is None:
            raise RuntimeError("MessagesAPI is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def chosen(self) -> list[str | int | None]:
        """Return, per request so far, the name (else index) of the reply sent, or None."""
        return [r.reply_name or r.reply_index for r in self.requests]

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests arrived; return them.

        Raises ``AssertionError`` after ``timeout`` seconds, listing what arrived.
        """
        deadline = time.monotonic() + timeout
        while len(got := self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} requests within {timeout} s, got {len(got)}: "
                    + "; ".join(r.facts.summary() if r.facts else r.path for r in got)
                )
            time.sleep(0.05)
        return got

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a background thread; return self."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.api = self
        self._stopping.clear()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"messages-api-{self.scenario.name}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut short any reply delay, and close the socket (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling (runs on the server's threads) --

    def _record(self, rec: RecordedRequest) -> int:
        with self._lock:
            self._requests.append(rec)
            return len(self._requests) - 1

    def _note(self, position: int, error: str) -> None:
        with self._lock:
            self._requests[position] = replace(self._requests[position], error=error)

    def _handle(self, h: _Handler, raw: bytes | None) -> None:
        arrived = time.time()
        body: dict[str, Any] | None = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            body = parsed if isinstance(parsed, dict) else None

        def fail(status: int, kind: str, message: str, facts: RequestFacts | None = None) -> None:
            self._record(
                RecordedRequest(
                    arrived, h.command, h.path, body, facts, None, None, status, message
                )
            )
            _send_json(h, status, {"type": "error", "error": {"type": kind, "message": message}})

        if raw is None or h.path.split("?", 1)[0] != "/v1/messages":
            fail(404, "not_found_error", f"{h.command} {h.path}: not served by the scripted API")
            return
        if body is None:
            fail(400, "invalid_request_error", "request body is not a JSON object")
            return
        facts = RequestFacts.of(body)
        index = self.scenario.choose(facts)
        if index is None:
            fail(
                500,
                "api_error",
                f"scenario {self.scenario.name!r} has no reply for this request: "
                + facts.summary(),
                facts,
            )
            return
        reply = self.scenario.replies[index]
        position = self._record(
            RecordedRequest(arrived, h.command, h.path, body, facts, index, reply.name, 200)
        )
        if reply.delay_seconds > 0 and self._stopping.wait(reply.delay_seconds):
            self._note(position, "server stopped during delay_seconds")
            return
        try:
            h.send_response(200)
            h.send_header("content-type", "text/event-stream")
            h.send_header("cache-control", "no-cache")
            h.send_header("connection", "close")
            h.end_headers()
            for event in stream_events(reply, facts.model):
                h.wfile.write(event)
            h.wfile.flush()
        except OSError as exc:  # the client hung up (e.g. Esc interrupts a turn)
            self._note(position, f"client disconnected: {exc}")
        h.close_connection = True


def _send_json(h: BaseHTTPRequestHandler, status: int, payload: Mapping[str, Any]) -> None:
    data = json.dumps(payload).encode()
    h.send_response(status)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    h.send_header("x-should-retry", "false")
    h.send_header("connection", "close")
    h.end_headers()
    h.wfile.write(data)
    h.close_connection = True
