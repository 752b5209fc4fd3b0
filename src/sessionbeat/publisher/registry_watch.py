"""File-system events on Claude Code's registry folder, so a status change is seen at once.

Claude Code rewrites ``<config dir>/sessions/<pid>.json`` in place the moment a session's status
changes (approval granted at the terminal, Esc, "No" at the prompt: changes no hook reports).
:class:`RegistryWatcher` watches that folder with watchdog (inotify on Linux, FSEvents on macOS,
ReadDirectoryChangesW on Windows, kqueue on BSD) and calls ``on_change`` for every created,
modified, closed-after-write, moved or deleted ``<digits>.json``. Opens and reads are filtered
out at the source (watchdog's ``event_filter`` becomes the inotify mask), so the agent's own
reads of the registry raise no events.

The folder may not exist yet (Claude Code never ran on this host): the config dir is watched for
its creation, and :meth:`RegistryWatcher.arm` is called again on every registry scan. Where
events are unavailable (no config dir, inotify's watch limit reached), :meth:`arm` returns False
and the agent falls back to scanning every ``registry_poll_interval`` seconds.

Why watchdog and not watchfiles: watchdog calls back per event from its own threads with no
polling step (watchfiles batches changes over a ``step`` of at least tens of milliseconds and
wakes the interpreter on that step to check for stop signals), it is already in sessionbeat's
dependency tree through Streamlit, and it ships a polling observer for file systems without
events.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

log = logging.getLogger(__name__)

FILE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
]
"""Events of registry files that can mean a change (no opens, no reads, no attributes)."""
DIR_EVENTS: list[type[FileSystemEvent]] = [DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
"""Events of the config dir that can mean the registry folder appeared or went."""


def _text(path: str | bytes) -> str:
    return path.decode(errors="replace") if isinstance(path, bytes) else path


def is_registry_file(path: str | bytes) -> bool:
    """Return True for a registry file name, ``<digits>.json`` (any folder)."""
    name = Path(_text(path)).name
    return name.endswith(".json") and name[:-5].isdigit()


class _Handler(FileSystemEventHandler):
    """Calls ``on_change`` for events that touch the registry (runs on watchdog's thread)."""

    def __init__(self, sessions: Path, on_change: Callable[[], None]) -> None:
        self.sessions = sessions
        self.on_change = on_change

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Forward registry-file events and the registry folder's own creation or removal."""
        paths = [event.src_path, getattr(event, "dest_path", "") or ""]
        if event.is_directory:
            if any(p and Path(_text(p)) == self.sessions for p in paths):
                self.on_change()
            return
        if any(p and is_registry_file(p) for p in paths):
            self.on_change()


class RegistryWatcher:
    """Watches ``<claude_config_dir>/sessions`` and calls ``on_change()`` when it changes.

    ``on_change`` runs on watchdog's thread: it must only hand the news on (the agent puts an
    item on its queue). ``observer_factory`` builds the watchdog observer (the native one by
    default; tests pass ``PollingObserver`` or a failing factory). Thread-safe: :meth:`arm` may
    be called from any thread. Never raises: failures are logged once and :meth:`arm` returns
    False, so the caller polls instead.
    """

    def __init__(
        self,
        claude_config_dir: Path,
        on_change: Callable[[], None],
        observer_factory: Callable[[], BaseObserver] = Observer,
    ) -> None:
        self.config_dir = Path(claude_config_dir)
        self.sessions = self.config_dir / "sessions"
        self._handler = _Handler(self.sessions, on_change)
        self._factory = observer_factory
        self._observer: BaseObserver | None = None
        self._sessions_watch: ObservedWatch | None = None
        self._parent_watch: ObservedWatch | None = None
        self._lock = threading.Lock()
        self._failed = False

    @property
    def watching(self) -> bool:
        """True while the registry folder itself is watched (events arrive as they happen)."""
        return self._sessions_watch is not None

    def start(self) -> bool:
        """Start the observer thread and arm the watches; return :attr:`watching`."""
        with self._lock:
            if self._observer is None:
                try:
                    observer = self._factory()
                    observer.daemon = True
                    observer.start()
                except Exception as exc:  # no event API on this system
                    self._fail(f"cannot start a file-system observer: {exc}")
                    return False
                self._observer = observer
        return self.arm()

    def arm(self) -> bool:
        """Watch the registry folder if it exists (and its parent for its creation).

        Call it again whenever the registry is scanned: the folder may have appeared or gone
        since. Returns :attr:`watching`.
        """
        with self._lock:
            observer = self._observer
            if observer is None:
                return False
            if self._sessions_watch is not None and not self.sessions.is_dir():
                self._unschedule(observer, self._sessions_watch)
                self._sessions_watch = None
            if self._parent_watch is None and self.config_dir.is_dir():
                self._parent_watch = self._schedule(observer, self.config_dir, DIR_EVENTS)
            if self._sessions_watch is None and self.sessions.is_dir():
                self._sessions_watch = self._schedule(observer, self.sessions, FILE_EVENTS)
            return self._sessions_watch is not None

    def stop(self) -> None:
        """Stop the observer thread (waits up to 2 s for it)."""
        with self._lock:
            observer, self._observer = self._observer, None
            self._sessions_watch = self._parent_watch = None
        if observer is not None:
            observer.stop()
            observer.join(2.0)

    def _schedule(
        self, observer: BaseObserver, path: Path, events: list[type[FileSystemEvent]]
    ) -> ObservedWatch | None:
        try:
            return observer.schedule(self._handler, str(path), event_filter=events)
        except (OSError, RuntimeError) as exc:  # e.g. inotify's max_user_watches reached
            self._fail(f"cannot watch {path}: {exc}")
            return None

    @staticmethod
    def _unschedule(observer: BaseObserver, watch: ObservedWatch) -> None:
        with contextlib.suppress(KeyError, OSError):  # already gone with its folder
            observer.unschedule(watch)

    def _fail(self, reason: str) -> None:
        if not self._failed:
            self._failed = True
            log.warning("%s; scanning Claude Code's registry by polling instead", reason)
