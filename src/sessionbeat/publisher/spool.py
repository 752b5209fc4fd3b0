"""The agent's on-disk stores: the bounded offline spool and the per-session state files.

:class:`Spool` keeps beats the agent could not hand to the broker, in order, in a JSON-lines file
``<state_dir>/spool.jsonl`` that survives a restart. When it grows past its byte budget it is
compacted to the newest beat per topic, which keeps the final broker state exact; only if that is
still too big are the oldest records dropped (counted). When the disk refuses a write (full,
read-only) the record, and every later one until a replay empties the spool, waits in a memory
queue under the same byte budget instead, so no transition is lost to a full disk and the order
holds (file first, then memory). A line that can never be sent (not JSON, a payload over
:data:`~sessionbeat.models.MAX_PAYLOAD_BYTES`, not a session topic) is skipped and counted.
:class:`SessionStore` keeps one JSON file per live session under ``<state_dir>/sessions/`` so
``seq``, ``started_at``, subagents and todos survive an agent restart. Disk errors are counted and
logged once, never raised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from sessionbeat.errors import TopicError
from sessionbeat.models import MAX_PAYLOAD_BYTES
from sessionbeat.publisher.session import LocalSession
from sessionbeat.topics import TopicKind, parse

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled publish: topic, payload bytes, and the wall time (epoch s) it was made."""

    topic: str
    payload: bytes
    created: float


class Spool:
    """A bounded FIFO of publishes on disk (``path``, at most about ``max_bytes`` bytes).

    Payloads over ``max_payload`` bytes are refused. When the disk refuses a write, records wait
    in memory (at most about ``max_bytes`` bytes there too). Not thread-safe: the agent's single
    worker thread owns it. ``errors`` counts failed disk operations, ``dropped`` records lost to
    the byte budget after compaction (or refused as too big), ``skipped`` unusable lines found
    in the file.
    """

    def __init__(self, path: Path, max_bytes: int, max_payload: int = MAX_PAYLOAD_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_payload = max_payload
        self.errors = 0
        self.dropped = 0
        self.skipped = 0
        self._memory: list[SpoolRecord] = []
        self._memory_bytes = 0
        self._logged_error = False
        self._logged: set[str] = set()
        self._counted_bad: tuple[int, int] | None = None

    def _fail(self, what: str, exc: OSError) -> None:
        self.errors += 1
        if not self._logged_error:
            log.error(
                "offline spool %s failed (%s): %s; keeping beats in memory", what, self.path, exc
            )
            self._logged_error = True

    def _once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning(message, *args)

    def __len__(self) -> int:
        """Return the number of records waiting (reads the file; the spool is small)."""
        return len(self.read())

    @property
    def in_memory(self) -> int:
        """Records waiting in memory because the disk refused them."""
        return len(self._memory)

    def _disk_size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def size(self) -> int:
        """Bytes waiting: on disk (0 when the file does not exist) and in memory."""
        return self._disk_size() + self._memory_bytes

    def append(self, record: SpoolRecord) -> bool:
        """Append one record; returns False only when it is dropped (too big for any broker).

        On disk, or in memory while the disk refuses writes (counted in ``errors``).
        """
        if len(record.payload) > self.max_payload:
            self.dropped += 1
            self._once("big", "refused to spool a %d-byte payload", len(record.payload))
            return False
        line = _encode(record)
        if not self._memory and self._write(line):
            self._logged_error = False
            if self._disk_size() > self.max_bytes:
                self.compact()
            return True
        self._memory.append(record)
        self._memory_bytes += len(line)
        if self._memory_bytes > self.max_bytes:
            self._memory = self._compacted(self._memory)
            self._memory_bytes = sum(len(_encode(r)) for r in self._memory)
        return True

    def _write(self, line: bytes) -> bool:
        """Append ``line`` to the file; on failure cut the file back to where it ended."""
        before = self._disk_size()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if before and not _ends_with_newline(self.path, before):
                line = b"\n" + line  # a crash cut the last line: never glue onto it
            with self.path.open("ab") as f:
                f.write(line)
        except OSError as exc:
            if self.path.is_file():
                with contextlib.suppress(OSError):
                    os.truncate(self.path, before)
            self._fail("write", exc)
            return False
        return True

    def read(self) -> list[SpoolRecord]:
        """Return every record in order, the file's then memory's; unusable lines are skipped."""
        return self._read_disk() + self._memory

    def _read_disk(self) -> list[SpoolRecord]:
        try:
            stat = self.path.stat()
            if stat.st_size == 0:
                return []
            with self.path.open("rb") as f:
                records, bad = self._parse(f)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._fail("read", exc)
            return []
        if bad and self._counted_bad != (stat.st_size, stat.st_mtime_ns):
            self._counted_bad = (stat.st_size, stat.st_mtime_ns)  # if the rewrite fails
            self.skipped += bad
            self._once(
                "skip",
                "skipped %d unusable spool lines in %s (not JSON, over %d bytes, or not a "
                "session topic); counting more as spool_skipped",
                bad,
                self.path,
                self.max_payload,
            )
            self._rewrite(_encode(r) for r in records)  # each is skipped (and counted) once
        return records

    def _parse(self, f: BinaryIO) -> tuple[list[SpoolRecord], int]:
        """Return the usable records of an open spool file and the number of unusable lines."""
        records = []
        bad = 0
        # A payload's JSON string escapes a character to at most 6 bytes (\uXXXX).
        for line in _lines(f, 6 * self.max_payload + 1024):
            if line is None:
                bad += 1
                continue
            try:
                raw = json.loads(line)
                record = SpoolRecord(raw["t"], raw["p"].encode(), float(raw["c"]))
                usable = (
                    parse(record.topic).kind is TopicKind.SESSION
                    and len(record.payload) <= self.max_payload
                )
            except (ValueError, KeyError, TypeError, AttributeError, TopicError):
                usable = False
            if usable:
                records.append(record)
            else:
                bad += 1
        return records, bad

    def _compacted(self, records: list[SpoolRecord]) -> list[SpoolRecord]:
        """Return the newest record per topic, then without the oldest ones over the budget."""
        latest: dict[str, SpoolRecord] = {}
        for record in records:
            latest.pop(record.topic, None)
            latest[record.topic] = record
        kept = list(latest.values())
        sizes = [len(_encode(r)) for r in kept]
        total = sum(sizes)
        drop = 0
        while drop < len(kept) and total > self.max_bytes:
            total -= sizes[drop]
            drop += 1
        if drop:
            self.dropped += drop
            log.warning(
                "offline spool over %d bytes: %d oldest beats dropped so far",
                self.max_bytes,
                self.dropped,
            )
        return kept[drop:]

    def compact(self) -> None:
        """Keep only the newest record per topic (then drop oldest records over the budget)."""
        self._rewrite(_encode(r) for r in self._compacted(self._read_disk()))

    def remove_first(self, count: int) -> None:
        """Remove the first ``count`` records (those the broker acknowledged)."""
        disk = self._read_disk()
        if count < len(disk):
            self._rewrite(_encode(r) for r in disk[count:])
            return
        if self._disk_size():
            self._rewrite([])  # also clears unusable lines
        self._memory = self._memory[count - len(disk) :]
        self._memory_bytes = sum(len(_encode(r)) for r in self._memory)

    def _rewrite(self, lines: Iterable[bytes]) -> None:
        """Replace the file by ``lines``: through a new file, else in place.

        In place works on a full disk too: a shorter file fits in the blocks it already holds.
        """
        data = b"".join(lines)
        tmp = self.path.with_suffix(".tmp")
        try:
            if not data:
                self.path.unlink(missing_ok=True)
                return
            tmp.write_bytes(data)
            os.replace(tmp, self.path)
            return
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self._fail("rewrite", exc)
        with contextlib.suppress(OSError), self.path.open("r+b") as f:
            f.write(data)
            f.truncate()


def _ends_with_newline(path: Path, size: int) -> bool:
    """Return True if the file at ``path``, ``size`` bytes long, ends with a newline."""
    with path.open("rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def _lines(f: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Yield the lines of ``f``; None for a line longer than ``limit`` bytes (not kept whole)."""
    while True:
        line = f.readline(limit)
        if not line:
            return
        if len(line) == limit and not line.endswith(b"\n"):
            while (rest := f.readline(limit)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield line


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
