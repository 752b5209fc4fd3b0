"""The agent's view of this host: git, transcripts, the status line, Claude's registry, psutil.

:class:`ClaudeReaders` implements :class:`sessionbeat.publisher.core.HostReaders` with the real
readers of ``publisher/git.py``, ``transcript.py``, ``statusline.py``, ``registry.py`` and
``liveness.py``. It caches transcript readings by (size, mtime) so that a burst of hooks does
not re-read an unchanged file.

Transcript reads are kept off the thread that publishes beats and heartbeats. A path that is
not a regular file (a FIFO, a device) is never read. A changed transcript is read on a thread
of its own; the caller waits at most :data:`TRANSCRIPT_WAIT` seconds for it (a local read takes
well under a millisecond, so a hook's beat normally carries the new context). A read that takes
longer (a stalled network disk) goes on alone: until it is done the file gives no reading and
is not read again; the first call after it is done delivers its reading (the agent's
once-a-second tick does, as for any transcript change), unless the file changed meanwhile,
when it is read anew. At most :data:`MAX_READS` reads run at a time. The threads are daemons
(not a ``ThreadPoolExecutor``, whose exit handler would wait for a read that never ends).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Mapping
from concurrent.futures import Future, TimeoutError
from pathlib import Path

from sessionbeat.claude_code import registry, transcript
from sessionbeat.claude_code.context import context_window
from sessionbeat.claude_code.statusline import parse_statusline
from sessionbeat.publisher import git, liveness
from sessionbeat.publisher.core import ContextReading
from sessionbeat.publisher.session import RegistryReading
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

CACHE_SIZE = 256
"""Transcripts whose last reading is remembered (oldest forgotten first)."""
TRANSCRIPT_WAIT = 0.5
"""Seconds a caller waits for a transcript read before it goes on without the reading."""
MAX_READS = 4
"""Transcript reads running at once at most; past that a changed file gives no reading yet."""

_Key = tuple[int, int]
"""A transcript's (size in bytes, modification time in ns): a new one means a new reading."""


class ClaudeReaders:
    """Real host readers for one Claude Code config dir (``settings.claude_config_dir``)."""

    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str] | None = None,
        transcript_wait: float = TRANSCRIPT_WAIT,
    ) -> None:
        self.claude_config_dir = settings.claude_config_dir
        self.env = dict(os.environ if env is None else env)
        self.transcript_wait = transcript_wait
        self._transcripts: dict[str, tuple[_Key, ContextReading | None]] = {}
        self._reads: dict[str, tuple[_Key, Future[ContextReading | None]]] = {}

    def repo_info(self, cwd: str) -> tuple[str | None, str | None]:
        """Return ``(repo, branch)`` of ``cwd`` (see publisher/git.py)."""
        info = git.repo_info(cwd)
        return info.repo, info.branch

    def transcript_context(self, path: str, model: str | None) -> ContextReading | None:
        """Return the tail reading of a transcript, or None (see the module docstring).

        Cached while the file is unchanged (one ``stat``); None for a path that is missing or
        not a regular file, and while a slow read of it is still running. Called from one
        thread (the agent's worker); the reads run on threads of their own.
        """
        try:
            info = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return None  # a FIFO would block the read; a device or folder is no transcript
        key = (info.st_size, info.st_mtime_ns)
        cached = self._transcripts.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        running = self._reads.get(path)
        if running is not None:
            if not running[1].done():
                return None  # already waited for once: no second read, no second wait
            self._finish(path, *running)
            if running[0] == key:
                return self._transcripts[path][1]
        if sum(not f.done() for _, f in self._reads.values()) >= MAX_READS:
            return None
        future = self._start_read(path, model)
        self._reads[path] = (key, future)
        try:
            future.result(timeout=self.transcript_wait)
        except TimeoutError:
            return None
        self._finish(path, key, future)
        return self._transcripts[path][1]

    def _start_read(self, path: str, model: str | None) -> Future[ContextReading | None]:
        """Read the transcript on a daemon thread; return the future of its reading."""
        future: Future[ContextReading | None] = Future()

        def run() -> None:
            try:
                future.set_result(self._read(path, model))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

        threading.Thread(target=run, name="sb-transcript", daemon=True).start()
        return future

    def _finish(self, path: str, key: _Key, future: Future[ContextReading | None]) -> None:
        """Remember a finished read's reading for ``key`` (a failed read gives None)."""
        del self._reads[path]
        error = future.exception()
        if error is not None:
            log.warning("cannot read transcript %s: %r", path, error)
        reading = None if error is not None else future.result()
        if len(self._transcripts) >= CACHE_SIZE and path not in self._transcripts:
            self._transcripts.pop(next(iter(self._transcripts)))
        self._transcripts[path] = (key, reading)

    def _read(self, path: str, model: str | None) -> ContextReading | None:
        """Read a transcript's tail into a reading (runs on a read thread)."""
        found = transcript.read_context(path)
        if found is None:
            return None
        used_model = found.model or model
        window, exact = context_window(used_model, found.context_tokens, None, self.env)
        return ContextReading(
            context_tokens=found.context_tokens,
            context_window=window if found.context_tokens is not None else None,
            window_exact=exact,
            model=found.model,
            cwd=found.cwd,
            branch=found.branch,
        )

    def statusline_context(self, raw: bytes) -> ContextReading | None:
        """Parse a status-line input into a reading with its exact window size."""
        reading = parse_statusline(raw)
        window, exact = context_window(
            reading.model_id, reading.context_tokens, reading.context_window_size, self.env
        )
        return ContextReading(
            context_tokens=reading.context_tokens,
            context_window=window,
            window_exact=exact,
            model=reading.model_id,
            cwd=reading.cwd,
            title=reading.session_name,
            transcript_path=reading.transcript_path,
            session_id=reading.session_id,
        )

    def registry(self) -> list[RegistryReading]:
        """Return Claude Code's registry entries with the procStart liveness guard applied."""
        readings = []
        for entry in registry.scan_registry(Path(self.claude_config_dir)):
            alive = registry.entry_alive(entry)
            readings.append(
                RegistryReading(
                    session_id=entry.session_id,
                    pid=entry.pid,
                    status_word=entry.status,
                    alive=alive,
                    create_time=liveness.create_time_of(entry.pid) if alive else None,
                    started_at=entry.started_at,
                    cwd=entry.cwd,
                    name=entry.name,
                    status_at=entry.status_at,
                    waiting_for=entry.waiting_for,
                    version=entry.version,
                    entrypoint=entry.entrypoint,
                    tmux=entry.tmux,
                )
            )
        return readings

    def find_process(self, ppid: int, gppid: int) -> tuple[int, float] | None:
        """Return ``(pid, create_time)`` of the Claude Code process above a hook."""
        ref = liveness.find_claude_process(ppid, gppid)
        if ref is None or ref.create_time is None:
            return None
        return ref.pid, ref.create_time

    def is_alive(self, pid: int, create_time: float | None) -> bool:
        """Return True if the process still runs and is the same one."""
        return liveness.is_alive(liveness.ProcessRef(pid, create_time))
