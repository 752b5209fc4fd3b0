"""Editing a Claude Code settings file safely, and remembering what was there before.

``hooks install`` and ``hooks uninstall`` read the file leniently (never overwriting what they
cannot read), write it atomically with a timestamped backup, and keep in the state dir what
uninstall must restore: ``hooks-install.json`` (whether the file and its ``hooks`` key existed)
and the status-line chains of :mod:`sessionbeat.publisher.statusline`. The edits themselves are
pure functions in :mod:`sessionbeat.claude_code.settings_file`.

``hooks install --mcp`` registers sessionbeat's MCP server in Claude Code's global config
(``~/.claude.json``, or ``$CLAUDE_CONFIG_DIR/.claude.json``) the same way: under Claude Code's
own lock, atomically, with a backup, refusing a file it cannot read; the edits are in
:mod:`sessionbeat.claude_code.mcp_config`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessionbeat.claude_code import mcp_config as mcp
from sessionbeat.claude_code import settings_file as cs
from sessionbeat.errors import ConfigError
from sessionbeat.settings import Settings

RECORD_FILE = "hooks-install.json"


_CHAIN_KEY = re.compile(r"--chain[= ](\S+)")


def target_file(settings: Settings, path: Path | None, project: bool) -> Path:
    """Return the absolute settings file to edit (``--settings``, ``--project`` or user file)."""
    if path is not None:
        return path.expanduser().absolute()
    if project:
        return Path.cwd() / ".claude" / "settings.json"
    return settings.claude_config_dir.expanduser().absolute() / "settings.json"


def read_json(path: Path) -> tuple[dict[str, Any], str]:
    """Return the parsed settings and their text (``{}`` and ``""`` for a missing file).

    Raises ``ConfigError`` when the file is not a JSON object or cannot be read: we never
    overwrite what we cannot read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}, text
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix it first") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a JSON object")
    return data, text


def render(data: dict[str, Any]) -> str:
    """Return settings as Claude Code writes them: 2-space indented JSON and a newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _backup_name(real: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = real.with_name(f"{real.name}.sessionbeat-{stamp}.bak")
    n = 1
    while backup.exists():  # two runs in one second must not overwrite the first backup
        backup = real.with_name(f"{real.name}.sessionbeat-{stamp}-{n}.bak")
        n += 1
    return backup


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` (it must not exist) holding ``text``, opened with ``mode`` less the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def write_with_backup(
    path: Path, old_text: str, new_text: str | None, create_mode: int = 0o666
) -> Path | None:
    """Back up the existing file, then replace (or, with ``new_text`` None, remove) it.

    The replacement is atomic (temporary file + rename) and keeps the file's permissions; a new
    file gets ``create_mode`` less the umask. The backup and the temporary file are created
    0600 before they take the file's permissions, so a private file is never readable by others
    on the way. A symlinked file is written through (the link itself stays). Returns the
    backup's path (None when there was no file). Raises ``OSError`` when the directory is not
    writable.
    """
    real = path.resolve() if path.is_symlink() else path
    real.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    existed = real.exists()
    if existed:
        backup = _backup_name(real)
        _write_new(backup, old_text, 0o600)
        shutil.copymode(real, backup)
    if new_text is None:
        real.unlink(missing_ok=True)
        return backup
    tmp = real.with_name(f"{real.name}.sessionbeat-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, new_text, 0o600 if existed else create_mode)
    if existed:
        shutil.copymode(real, tmp)
    os.replace(tmp, real)
    return backup


def canonical_key(path: Path) -> str:
    """Return the key under which install records a settings file (symlinks resolved)."""
    return str(path.resolve())


def load_records(settings: Settings) -> dict[str, Any]:
    """Return what install recorded per settings file (``{}`` when nothing or unreadable)."""
    try:
        data = json.loads((settings.state_dir / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_records(settings: Settings, records: dict[str, Any]) -> None:
    """Write the install records atomically (removing the file when there are none)."""
    path = settings.state_dir / RECORD_FILE
    if not records:
        path.unlink(missing_ok=True)
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{RECORD_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(records, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def diff(path: Path, old: str, new: str) -> str:
    """Return a unified diff of a settings file's text now and after the edit."""
    return "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"{path} (now)", f"{path} (after)"
        )
    )


def chain_statusline(
    data: dict[str, Any],
    script: str,
    key: str,
    canonical: str,
    chains: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Put our status line in ``data``; record the previous one in ``chains[key]``."""
    current = data.get("statusLine")
    new, previous, replaced = cs.set_statusline(data, script, key)
    if replaced:
        chains[key] = {"settings": canonical, "previous": previous}
    elif key not in chains:
        # Ours was there already under another key (a copied settings file): carry its chain.
        command = current.get("command") if isinstance(current, dict) else None
        match = _CHAIN_KEY.search(command) if isinstance(command, str) else None
        old = chains.get(match.group(1)) if match else None
        previous = old.get("previous") if old else None
        chains[key] = {"settings": canonical, "previous": previous}
    return new


def mcp_config_file(settings: Settings) -> Path:
    """Return the Claude Code global config file that holds user-scope MCP servers.

    ``<claude_config_dir>/.claude.json`` when the config dir was set (``CLAUDE_CONFIG_DIR``,
    ``SESSIONBEAT_CLAUDE_CONFIG_DIR`` or the TOML file), else ``~/.claude.json``: Claude Code
    reads ``~/.claude.json`` only when ``CLAUDE_CONFIG_DIR`` is unset (measured, 2.1.328).
    """
    explicit = "claude_config_dir" in settings.model_fields_set
    config_dir = settings.claude_config_dir.expanduser().absolute() if explicit else None
    return mcp.global_config_file(config_dir, Path.home())


@dataclass(frozen=True, slots=True)
class McpChange:
    """What registering or unregistering our MCP server did (or, in a dry run, would do).

    ``before``/``after`` are our ``mcpServers`` entry before and after (None: absent);
    ``backup`` is the backup of the previous file (None when nothing was written).
    """

    path: Path
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    written: bool
    backup: Path | None = None

    @property
    def changed(self) -> bool:
        """Tell whether the entry differs (or would differ) after the edit."""
        return self.before != self.after


def change_mcp_server(path: Path, entry: dict[str, Any] | None, dry_run: bool) -> McpChange:
    """Register ``entry`` as ``mcpServers.sessionbeat`` in ``path``, or remove ours (None).

    ``path`` is Claude Code's global config (:func:`mcp_config_file`). Everything else in the
    file is kept; the edit is made under Claude Code's own lock (see
    :func:`sessionbeat.claude_code.mcp_config.config_lock`), written atomically with a backup, a
    new file mode 0600, and only when the entry changes. ``dry_run`` reads and writes nothing
    but the answer. Raises ``ConfigError`` when the file is not a JSON object, ``mcpServers``
    is not an object, the file cannot be read or written, or the lock stays held.
    """
    lock = contextlib.nullcontext() if dry_run else mcp.config_lock(path)
    try:
        with lock:
            data, old_text = read_json(path)
            try:
                before = mcp.get_server(data)
                new = mcp.remove_server(data) if entry is None else mcp.add_server(data, entry)
            except ValueError as exc:
                raise ConfigError(f"{path}: {exc}; fix it first") from exc
            after = mcp.get_server(new)
            if dry_run or before == after:
                return McpChange(path, before, after, written=False)
            backup = write_with_backup(path, old_text, mcp.render(new), create_mode=0o600)
    except TimeoutError as exc:
        raise ConfigError(f"{exc}: a running Claude Code may be saving it; try again") from exc
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc}") from exc
    return McpChange(path, before, after, written=True, backup=backup)


def registered_mcp_server(path: Path) -> dict[str, Any] | None:
    """Return our ``mcpServers`` entry in Claude Code's global config ``path``, or None.

    Raises ``ConfigError`` when the file cannot be read or does not hold a valid config.
    """
    data, _ = read_json(path)
    try:
        return mcp.get_server(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
