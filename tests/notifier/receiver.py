"""A real local HTTP server standing in for a notification service (ntfy, a JSON webhook).

It records every request (method, path, headers, body, arrival time) and answers as told:
``200`` with ntfy's JSON, a status code for the next N requests, or a hang.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass
class Request:
    """One request the receiver got; ``at`` is ``time.time()`` at arrival."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """The server; ``url`` is its base URL. Use as a context manager."""

    requests: list[Request] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    hang_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    self.command, self.path, dict(self.headers.items()), body, time.time()
                )
                with owner.lock:
                    owner.requests.append(req)
                    status = 200
                    if owner.fail_next > 0:
                        owner.fail_next -= 1
                        status = owner.fail_status
                    hang = owner.hang_seconds
                with owner.arrived:
                    owner.arrived.notify_all()
                if hang:
                    time.sleep(hang)
                reply = json.dumps({"id": "x1", "event": "message"}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client gave up (timeout)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.hang_seconds = 0
        self.server.shutdown()
        self.server.server_close()

    def matching(self, method: str | None = None, prefix: str = "") -> list[Request]:
        """The requests so far with ``method`` (any if None) whose path starts with ``prefix``."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and r.path.startswith(prefix)
            ]

    def wait_for(
        self, count: int, method: str | None = None, prefix: str = "", timeout: float = 20.0
    ) -> list[Request]:
        """Wait until ``count`` matching requests arrived; return them (raises on timeout)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(found := self.matching(method, prefix)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)}/{count} {method} {prefix} requests in {timeout} s: "
                        f"{[(r.method, r.path) for r in self.requests]}"
                    )
                self.arrived.wait(min(left, 0.2))
        return found
