"""Context size and recent facts from the TAIL of a Claude Code transcript (JSONL).

Format: one JSON object per line (docs/claude-code-formats.md section 3; the same method as
ccusage ``calculateContextTokens`` and ccstatusline ``jsonl-metrics.ts``). Context tokens =
``input_tokens + cache_creation_input_tokens + cache_read_input_tokens`` of the last main-chain
``assistant`` entry with ``message.usage``, skipping sidechain entries and API-error stubs
(``isApiErrorMessage`` / model ``<synthetic>``). A ``system`` entry with subtype
``compact_boundary`` newer than that entry means the context was just compacted: its
``compactMetadata.postTokens`` (or 0) is the size.

Transcripts grow to many MB, so the file is read from the end in growing chunks (64 KiB,
doubling) up to ``max_bytes``; unknown entry types and broken lines are skipped.

A ``transcript_path`` comes from a hook's input, so it may name anything: only regular files
are read (:func:`open_regular`). A FIFO, a device or a folder reads as "no transcript" at once;
opening a FIFO the ordinary way would wait for a writer forever.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from typing import Any, BinaryIO

FIRST_CHUNK = 64 * 1024
"""Bytes of the first (newest) block; each further block is twice as big."""
MAX_BYTES = 8 * 1024 * 1024
"""Bytes read from the end at most; older context is not looked for."""


@dataclass(frozen=True, slots=True)
class TranscriptContext:
    """What the tail of a transcript says (tokens; None where not found).

    ``compacted`` is True when the newest relevant entry was a compact boundary;
    ``bytes_read`` is how much of the file was read.
    """

    context_tokens: int | None
    model: str | None
    cwd: str | None
    branch: str | None
    compacted: bool
    bytes_read: int


_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the check: open returns at once
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)  # Windows
)


def _looks_regular(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` is a regular file now (``os.stat``, following symlinks)."""
    return stat.S_ISREG(os.stat(path).st_mode)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO | None:
    """Open ``path`` for binary reading if it is a regular file; else return None.

    Checks the path first (a FIFO, device or folder is never opened), then opens it with
    ``O_NONBLOCK`` and checks the opened file again with ``fstat``: a file swapped for a FIFO
    between the two cannot block the open nor be read. Blocking mode is restored for the
    regular file. Any ``OSError`` (missing, no permission) gives None.
    """
    try:
        if not _looks_regular(path):
            return None
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None


def usage_tokens(usage: Any) -> int | None:
    """Return input + cache creation + cache read tokens of a ``usage`` object, or None.

    Output tokens are left out, as in Claude Code's own ``used_percentage``; a missing or null
    count is 0; a count that is not an integer makes the whole usage unusable (None).
    """
    if not isinstance(usage, dict):
        return None
    total = 0
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        value = usage.get(key) or 0
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        total += value
    return total


def _usable_assistant(entry: dict[str, Any]) -> dict[str, Any] | None:
    """Return the ``message`` of a main-chain, non-error assistant entry with usage, else None."""
    if (
        entry.get("type") != "assistant"
        or entry.get("isSidechain")
        or entry.get("isApiErrorMessage")
    ):
        return None
    message = entry.get("message")
    if not isinstance(message, dict) or message.get("model") == "<synthetic>":
        return None
    return message if isinstance(message.get("usage"), dict) else None


@dataclass(slots=True)
class _Scan:
    """What the blocks scanned so far (newest first) told."""

    found: bool = False
    tokens: int | None = None
    model: str | None = None
    compacted: bool = False
    cwd: str | None = None
    branch: str | None = None

    def lines(self, lines: list[bytes]) -> None:
        """Walk ``lines`` (oldest first, as in the file) newest first until a context size.

        A line is only parsed when it can matter: it holds usage or a compact boundary, or a
        ``cwd``/``gitBranch`` still missing. On a tail of big tool results that skips almost
        every ``json.loads`` (the key test is a byte search).
        """
        for raw in reversed(lines):
            wanted = (
                b'"usage"' in raw
                or b"compact_boundary" in raw
                or (self.cwd is None and b'"cwd"' in raw)
                or (self.branch is None and b'"gitBranch"' in raw)
            )
            if not wanted:
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a partial last line (being written) or a corrupt one
            if isinstance(entry, dict) and self._entry(entry):
                return

    def _entry(self, entry: dict[str, Any]) -> bool:
        """Take one entry into account; True once the context size is known."""
        if self.cwd is None and isinstance(entry.get("cwd"), str) and entry["cwd"]:
            self.cwd = entry["cwd"]
        if self.branch is None and isinstance(entry.get("gitBranch"), str) and entry["gitBranch"]:
            self.branch = entry["gitBranch"]
        if entry.get("type") == "system" and entry.get("subtype") == "compact_boundary":
            meta = entry.get("compactMetadata")
            post = meta.get("postTokens") if isinstance(meta, dict) else None
            self.found, self.compacted = True, True
            self.tokens = post if isinstance(post, int) and not isinstance(post, bool) else 0
            return True
        message = _usable_assistant(entry)
        if message is None:
            return False
        tokens = usage_tokens(message["usage"])
        if tokens is None:
            return False
        model = message.get("model")
        self.found, self.tokens = True, tokens
        self.model = model if isinstance(model, str) and model else None
        return True


def read_context(
    path: str | os.PathLike[str], max_bytes: int = MAX_BYTES, first_chunk: int = FIRST_CHUNK
) -> TranscriptContext | None:
    """Read the context facts of the transcript at ``path`` from its tail.

    Reads blocks from the end of the file, ``first_chunk`` bytes first, then twice as many each
    time, until the newest main-chain assistant usage (or a newer compact boundary) is found, the
    start of the file is reached, or ``max_bytes`` bytes were read. Returns None if the file
    cannot be opened (missing, another host's path, no permission) or is not a regular file
    (:func:`open_regular`); content never raises: broken lines, a partial last line and unknown
    entry types are skipped. ``context_tokens`` is None when nothing usable was found within
    the bytes read.
    """
    f = open_regular(path)
    if f is None:
        return None
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
        except OSError:
            return None
        chunk = max(1, min(first_chunk, max_bytes))
        scan = _Scan()
        end, carry, total = size, b"", 0
        while True:
            # Read the block before what was already scanned; the first line of the block
            # may be cut, so it is carried into the next (older) block.
            start = max(0, end - chunk)
            try:
                f.seek(start)
                data = f.read(end - start) + carry
            except OSError:
                break
            total += end - start
            lines = data.split(b"\n")
            carry = lines.pop(0) if start > 0 else b""
            scan.lines(lines)
            if scan.found or start == 0 or total >= max_bytes:
                break
            end = start
            chunk = min(chunk * 2, max_bytes - total)
        return TranscriptContext(
            scan.tokens if scan.found else None,
            scan.model,
            scan.cwd,
            scan.branch,
            scan.compacted,
            total,
        )


@dataclass(frozen=True, slots=True)
class TranscriptMessage:
    """One user or assistant text message of a transcript (tool calls and results skipped)."""

    role: str
    text: str
    timestamp: str | None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        ]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def tail_messages(
    path: str, limit: int = 8, max_bytes: int = 512 * 1024
) -> list[TranscriptMessage]:
    """Return the last ``limit`` main-chain user/assistant text messages, oldest first.

    Reads at most ``max_bytes`` from the end of the file; a missing file, or one that is not a
    regular file (:func:`open_regular`), gives ``[]``.
    """
    f = open_regular(path)
    if f is None:
        return []
    try:
        with f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - max_bytes)
            f.seek(start)
            data = f.read()
    except OSError:
        return []
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]
    found: list[TranscriptMessage] = []
    for raw in reversed(lines):
        if len(found) >= limit:
            break
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("isSidechain") or entry.get("isMeta"):
            continue
        kind = entry.get("type")
        message = entry.get("message")
        if kind not in ("user", "assistant") or not isinstance(message, dict):
            continue
        text = _text_of(message.get("content")).strip()
        if text:
            stamp = entry.get("timestamp")
            found.append(TranscriptMessage(kind, text, stamp if isinstance(stamp, str) else None))
    return list(reversed(found))
