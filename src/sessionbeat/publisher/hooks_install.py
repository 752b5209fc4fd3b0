"""Editing a Claude Code settings file safely, and remembering what was there before.

``hooks install`` and ``hooks uninstall`` read the file leniently (never overwriting what they
cannot read), write it atomically with a timestamped backup, and keep in the state dir what
uninstall must restore: ``hooks-install.json`` (whether the file and its ``hooks`` key existed)
and the status-line chains of :mod:`sessionbeat.publisher.statusline`. The edits themselves are
pure functions in :mod:`sessionbeat.claude_code.settings_file`.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

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


def write_with_backup(path: Path, old_text: str, new_text: str | None) -> Path | None:
    """Back up the existing file, then replace (or, with ``new_text`` None, remove) it.

    The replacement is atomic (temporary file + rename) and keeps the file's permissions; a
    symlinked file is written through (the link itself stays). Returns the backup's path
    (None when there was no file). Raises ``OSError`` when the directory is not writable.
    """
    real = path.resolve() if path.is_symlink() else path
    real.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if real.exists():
        backup = _backup_name(real)
        backup.write_text(old_text, encoding="utf-8")
        shutil.copymode(real, backup)
    if new_text is None:
        real.unlink(missing_ok=True)
        return backup
    tmp = real.with_name(f"{real.name}.sessionbeat-{os.getpid()}.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    if real.exists():
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
