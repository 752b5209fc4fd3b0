"""File-system events on Claude Code's registry folder (publisher/registry_watch.py)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from sessionbeat.publisher.registry_watch import RegistryWatcher, is_registry_file
from tests.conftest import short_tmpdir
from tests.procs import wait_until


class Calls:
    """Counts on_change calls (from watchdog's thread)."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.count += 1

    def settle(self, quiet: float = 0.3) -> int:
        """Return the count once no call came for ``quiet`` seconds."""
        last = -1
        while last != self.count:
            last = self.count
            time.sleep(quiet)
        return last


@pytest.fixture
def config_dir() -> Path:
    path = short_tmpdir("sb-claude-") / ".claude"
    path.mkdir()
    return path


@pytest.fixture
def watched(config_dir: Path) -> Iterator[tuple[RegistryWatcher, Calls]]:
    calls = Calls()
    watcher = RegistryWatcher(config_dir, calls)
    yield watcher, calls
    watcher.stop()


def entry(status: str) -> str:
    return json.dumps({"pid": 4846, "sessionId": "s-1", "status": status, "procStart": "1"})


def test_a_rewrite_of_a_registry_file_is_reported(
    config_dir: Path, watched: tuple[RegistryWatcher, Calls]
) -> None:
    """Claude Code rewriting <pid>.json in place reaches on_change; the folder is watched."""
    sessions = config_dir / "sessions"
    sessions.mkdir()
    watcher, calls = watched
    assert watcher.start() is True
    path = sessions / "4846.json"
    path.write_text(entry("idle"))
    wait_until(lambda: calls.count >= 1, 5, what="the creation")
    before = calls.settle()
    with path.open("r+") as f:  # in place, as Claude Code does it
        f.truncate(0)
        f.write(entry("busy"))
    wait_until(lambda: calls.count > before, 5, what="the rewrite")
    path.unlink()
    after = calls.settle()
    assert after > before


def test_reading_the_registry_and_other_files_raise_nothing(
    config_dir: Path, watched: tuple[RegistryWatcher, Calls]
) -> None:
    """The agent's own reads, key files and temp files do not wake it (no feedback loop)."""
    sessions = config_dir / "sessions"
    sessions.mkdir()
    path = sessions / "4846.json"
    path.write_text(entry("idle"))
    watcher, calls = watched
    watcher.start()
    for _ in range(50):
        path.read_bytes()
    (sessions / "4846.0f3c.key").write_text("k")
    (sessions / "notes.txt").write_text("x")
    assert calls.settle() == 0


def test_a_registry_folder_created_later_is_picked_up(
    config_dir: Path, watched: tuple[RegistryWatcher, Calls]
) -> None:
    """Before Claude Code first runs there is no sessions/: its creation is seen and armed."""
    watcher, calls = watched
    assert watcher.start() is False
    (config_dir / "sessions").mkdir()
    wait_until(lambda: calls.count >= 1, 5, what="the folder's creation")
    assert watcher.arm() is True
    (config_dir / "sessions" / "77.json").write_text(entry("busy"))
    wait_until(lambda: calls.count >= 2, 5, what="a file in the new folder")


def test_without_events_it_says_so_once_and_the_agent_polls(
    config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An observer that cannot start (no event API, watch limit): arm() is False, one warning."""

    def broken() -> BaseObserver:
        raise OSError(28, "inotify watch limit reached")

    (config_dir / "sessions").mkdir()
    watcher = RegistryWatcher(config_dir, Calls(), observer_factory=broken)
    with caplog.at_level(logging.WARNING):
        assert watcher.start() is False
        assert watcher.start() is False
        assert watcher.arm() is False
    warnings = [r for r in caplog.records if "polling" in r.getMessage()]
    assert len(warnings) == 1
    watcher.stop()


def test_registry_file_names() -> None:
    """Only <digits>.json files are registry entries (not keys, legacy pid-N.json or temps)."""
    assert is_registry_file("/x/.claude/sessions/4846.json")
    assert is_registry_file(b"4846.json")
    for name in ("4846.abc.key", "pid-12.json", "4846.json.tmp", ".json", "notes.json"):
        assert not is_registry_file(name), name
