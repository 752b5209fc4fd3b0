"""The agent's on-disk stores: the bounded offline spool and the per-session state files.

:class:`Spool` keeps beats the agent could not hand to the broker, in order, in a JSON-lines file
``<state_dir>/spool.jsonl`` that survives a restart. When it grows past its byte budget it is
compacted to the newest beat per topic, which keeps the final broker state exact; only if that is
still too big are the oldest records dropped (counted). :class:`SessionStore` keeps one JSON file
per live session under ``<state_dir>/sessions/`` so ``seq``, ``started_at``, subagents and todos
survive an agent restart. Disk errors (full, read-only) are counted and logged once, never raised.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from sessionbeat.publisher.session import LocalSession

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled publish: topic, payload bytes, and the wall time (epoch s) it was made."""

    topic: str
    payload: bytes
    created: float


class Spool:
    """A bounded FIFO of publishes on disk (``path``, at most about ``max_bytes`` bytes).

    Not thread-safe: the agent's single worker thread owns it. ``errors`` counts failed disk
    writes, ``dropped`` records lost to the byte budget after compaction.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.errors = 0
        self.dropped = 0
        self._logged_error = False

    def _fail(self, what: str, exc: OSError) -> None:
        self.errors += 1
        if not self._logged_error:
            log.error(
                "offline spool %s failed (%s): %s; keeping state in memory", what, self.path, exc
            )
            self._logged_error = True

    def __len__(self) -> int:
        """Return the number of records waiting (reads the file; the spool is small)."""
        return len(self.read())

    def size(self) -> int:
        """Bytes on disk (0 when the file does not exist)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def append(self, record: SpoolRecord) -> bool:
        """Append one record; returns False (and counts the error) if the disk refused it."""
        line = _encode(record)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("ab") as f:
                f.write(line)
        except OSError as exc:
            self._fail("write", exc)
            return False
        self._logged_error = False
        if self.size() > self.max_bytes:
            self.compact()
        return True

    def read(self) -> list[SpoolRecord]:
        """Return every record in order; a corrupt line (torn write) is skipped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._fail("read", exc)
            return []
        records = []
        for line in data.splitlines():
            try:
                raw = json.loads(line)
                records.append(SpoolRecord(raw["t"], raw["p"].encode(), float(raw["c"])))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return records

    def compact(self) -> None:
        """Keep only the newest record per topic (then drop oldest records over the budget)."""
        latest: dict[str, SpoolRecord] = {}
        for record in self.read():
            latest.pop(record.topic, None)
            latest[record.topic] = record
        records = list(latest.values())
        lines = [_encode(r) for r in records]
        while lines and sum(map(len, lines)) > self.max_bytes:
            lines.pop(0)
            self.dropped += 1
        if self.dropped:
            log.warning(
                "offline spool over %d bytes: %d oldest beats dropped so far",
                self.max_bytes,
                self.dropped,
            )
        self._rewrite(lines)

    def remove_first(self, count: int) -> None:
        """Remove the first ``count`` records (those the broker acknowledged)."""
        rest = self.read()[count:]
        self._rewrite([_encode(r) for r in rest])

    def _rewrite(self, lines: Iterable[bytes]) -> None:
        tmp = self.path.with_suffix(".tmp")
        try:
            data = b"".join(lines)
            if not data:
                self.path.unlink(missing_ok=True)
                return
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
        except OSError as exc:
            self._fail("rewrite", exc)


def _encode(record: SpoolRecord) -> bytes:
    return (
        json.dumps(
            {"t": record.topic, "p": record.payload.decode(), "c": record.created},
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )


class SessionStore:
    """One JSON file per session in ``directory``; write errors are counted, never raised."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.errors = 0
        self._logged_error = False

    def _path(self, session_id: str) -> Path:
        return self.directory / f"{session_id}.json"

    def save(self, session: LocalSession) -> None:
        """Write ``session`` atomically (tmp file + rename)."""
        path = self._path(session.session_id)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(session.model_dump_json(), encoding="utf-8")
            os.replace(tmp, path)
            self._logged_error = False
        except OSError as exc:
            self.errors += 1
            if not self._logged_error:
                log.error("cannot save session state in %s: %s", self.directory, exc)
                self._logged_error = True

    def delete(self, session_id: str) -> None:
        """Forget a session's file (missing is fine)."""
        try:
            self._path(session_id).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot delete session state %s: %s", session_id, exc)

    def load_all(self) -> list[LocalSession]:
        """Return every stored session; unreadable files are logged and skipped."""
        if not self.directory.is_dir():
            return []
        sessions = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                sessions.append(LocalSession.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError) as exc:
                log.warning("ignoring unreadable session state %s: %s", path.name, exc)
        return sessions
