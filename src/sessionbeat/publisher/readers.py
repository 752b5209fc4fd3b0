"""The agent's view of this host: git, transcripts, the status line, Claude's registry, psutil.

:class:`ClaudeReaders` implements :class:`sessionbeat.publisher.core.HostReaders` with the real
readers of ``publisher/git.py``, ``transcript.py``, ``statusline.py``, ``registry.py`` and
``liveness.py``. It caches transcript readings by (size, mtime) so that a burst of hooks does
not re-read an unchanged file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sessionbeat.claude_code import registry, transcript
from sessionbeat.claude_code.context import context_window
from sessionbeat.claude_code.statusline import parse_statusline
from sessionbeat.publisher import git, liveness
from sessionbeat.publisher.core import ContextReading
from sessionbeat.publisher.session import RegistryReading
from sessionbeat.settings import Settings

CACHE_SIZE = 256


class ClaudeReaders:
    """Real host readers for one Claude Code config dir (``settings.claude_config_dir``)."""

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None) -> None:
        self.claude_config_dir = settings.claude_config_dir
        self.env = dict(os.environ if env is None else env)
        self._transcripts: dict[str, tuple[tuple[int, int], ContextReading | None]] = {}

    def repo_info(self, cwd: str) -> tuple[str | None, str | None]:
        """Return ``(repo, branch)`` of ``cwd`` (see publisher/git.py)."""
        info = git.repo_info(cwd)
        return info.repo, info.branch

    def transcript_context(self, path: str, model: str | None) -> ContextReading | None:
        """Return the tail reading of a transcript, cached while the file is unchanged."""
        try:
            stat = os.stat(path)
        except OSError:
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        cached = self._transcripts.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        found = transcript.read_context(path)
        reading = None
        if found is not None:
            used_model = found.model or model
            window, exact = context_window(used_model, found.context_tokens, None, self.env)
            reading = ContextReading(
                context_tokens=found.context_tokens,
                context_window=window if found.context_tokens is not None else None,
                window_exact=exact,
                model=found.model,
                cwd=found.cwd,
                branch=found.branch,
            )
        if len(self._transcripts) >= CACHE_SIZE:
            self._transcripts.pop(next(iter(self._transcripts)))
        self._transcripts[path] = (key, reading)
        return reading

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
