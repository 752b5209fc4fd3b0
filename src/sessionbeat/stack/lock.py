"""One ``sessionbeat up`` per state dir: the lock it holds and the note saying where it runs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from sessionbeat.errors import StackRunningError


class StackLock:
    """The lock a running ``sessionbeat up`` holds in its state dir, and what it started.

    ``<state_dir>/stack.lock`` is a filelock held for the stack's lifetime (released by the OS
    if the process dies); ``<state_dir>/stack.json`` says who holds it and its URLs, so a
    second ``up`` can tell the user where the running one is. Use as a context manager, or call
    :meth:`acquire` and :meth:`release`.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.info_path = state_dir / "stack.json"
        self._lock = FileLock(str(state_dir / "stack.lock"))

    def acquire(self) -> None:
        """Take the lock without waiting.

        Raises :class:`~sessionbeat.errors.StackRunningError` describing the running stack
        (its pid and URLs from ``stack.json``) when another process holds it.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise StackRunningError(self._describe_running()) from None
        self.info_path.unlink(missing_ok=True)

    def record(self, **urls: str) -> None:
        """Write who runs the stack (this pid) and its URLs (name -> URL) into ``stack.json``."""
        self.info_path.write_text(json.dumps({"pid": os.getpid(), **urls}, indent=1))

    def release(self) -> None:
        """Forget the running stack and release the lock."""
        self.info_path.unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> StackLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _describe_running(self) -> str:
        try:
            info = json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            info = {}
        where = ", ".join(f"{k} {v}" for k, v in info.items() if k != "pid")
        pid = info.get("pid")
        return (
            f"sessionbeat up already runs for {self.state_dir}"
            + (f" (pid {pid}{': ' + where if where else ''})" if pid else "")
            + "; stop it with Ctrl-C in its terminal"
            + (f" or `kill {pid}`" if pid else "")
            + ", or give this one its own SESSIONBEAT_STATE_DIR."
        )
