"""``sessionbeat hooks install|uninstall|status``: wire Claude Code to sessionbeat.

Edits ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json``; ``--project`` for
``./.claude/settings.json``; ``--settings PATH`` for any file): adds one command hook per event
that runs the ABSOLUTE path of this installation's console script (a pyenv/asdf shim alone
costs ~130 ms per event), optionally chains the status line, keeps a timestamped backup, and
never touches other hooks or keys. ``--dry-run`` prints a unified diff, writes nothing, and ends
with a line on stderr saying so.

What install must remember for uninstall lives in the state dir: ``hooks-install.json``
(whether the file and its ``hooks`` key existed before) and ``statusline.json`` (the previous
status line of each settings file, see :mod:`sessionbeat.publisher.statusline`). A settings
file that is a symlink (dotfiles managers) is written through, the link stays.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sessionbeat.cli_support import get_settings
from sessionbeat.errors import ConfigError
from sessionbeat.publisher import claude_settings as cs
from sessionbeat.publisher import statusline as sl
from sessionbeat.publisher.agent_cli import console_script
from sessionbeat.settings import Settings

app = typer.Typer(
    help="Install Claude Code hooks that report to sessionbeat.", no_args_is_help=True
)

RECORD_FILE = "hooks-install.json"

SettingsOpt = Annotated[Path | None, typer.Option("--settings", help="settings.json to edit")]
ProjectOpt = Annotated[bool, typer.Option(help="edit ./.claude/settings.json instead")]
ReadSettingsOpt = Annotated[Path | None, typer.Option("--settings", help="settings.json to read")]
ReadProjectOpt = Annotated[bool, typer.Option(help="read ./.claude/settings.json instead")]
DryRunOpt = Annotated[bool, typer.Option(help="print the diff, write nothing")]

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


def _canonical(path: Path) -> str:
    """Return the key under which install records a settings file (symlinks resolved)."""
    return str(path.resolve())


def _records(settings: Settings) -> dict[str, Any]:
    try:
        data = json.loads((settings.state_dir / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_records(settings: Settings, records: dict[str, Any]) -> None:
    path = settings.state_dir / RECORD_FILE
    if not records:
        path.unlink(missing_ok=True)
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{RECORD_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(records, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _diff(path: Path, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"{path} (now)", f"{path} (after)"
        )
    )


def _dry_run_note(path: Path) -> None:
    """Say on stderr that a --dry-run wrote nothing (stdout keeps only the diff)."""
    typer.echo(f"dry run: nothing written to {path}", err=True)


def _chain_statusline(
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


@app.command()
def install(
    ctx: typer.Context,
    settings_path: SettingsOpt = None,
    project: ProjectOpt = False,
    dry_run: DryRunOpt = False,
    statusline: Annotated[
        bool | None,
        typer.Option(
            "--statusline/--no-statusline",
            help="chain sessionbeat's status line (exact context %) / restore the previous one",
            show_default="leave the status line as it is",
        ),
    ] = None,
    script: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Add sessionbeat's hooks to Claude Code's settings (idempotent, with a backup)."""
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    canonical = _canonical(path)
    data, old_text = read_json(path)
    command_path = script or str(console_script())
    try:
        new = cs.add_hooks(data, command_path)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    state = str(settings.state_dir)
    chains = sl.load_chains(state)
    key = sl.chain_key(canonical)
    if statusline is True:
        new = _chain_statusline(new, command_path, key, canonical, chains)
    elif statusline is False:
        chain = chains.pop(key, None)
        new = cs.restore_statusline(new, chain.get("previous") if chain else None)
    new_text = render(new)
    unchanged = new == data and bool(old_text)
    if dry_run:
        typer.echo("no change" if unchanged else _diff(path, old_text, new_text))
        _dry_run_note(path)
        return
    if unchanged:
        sl.save_chains(chains, state)
        typer.echo(f"{path}: already installed, nothing to change")
        return
    records = _records(settings)
    records.setdefault(canonical, {"had_hooks_key": "hooks" in data, "created": not path.exists()})
    backup = write_with_backup(path, old_text, new_text)
    _save_records(settings, records)
    sl.save_chains(chains, state)
    typer.echo(f"installed sessionbeat hooks for {len(cs.HOOK_EVENTS)} events in {path}")
    if backup:
        typer.echo(f"backup: {backup}")
    if new.get("disableAllHooks") is True:
        typer.echo(f'warning: {path} sets "disableAllHooks": true; no hook runs', err=True)
    if statusline is True:
        previous = chains[key].get("previous")
        typer.echo(
            "status line: sessionbeat statusline"
            + (" (chained to your previous one)" if previous else "")
        )
    elif statusline is False:
        typer.echo("status line: restored")


@app.command()
def uninstall(
    ctx: typer.Context,
    settings_path: SettingsOpt = None,
    project: ProjectOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Remove sessionbeat's hooks (and restore the previous status line); others stay."""
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    canonical = _canonical(path)
    data, old_text = read_json(path)
    new = cs.remove_hooks(data)
    records = _records(settings)
    record = records.pop(canonical, {})
    if not new.get("hooks") and not record.get("had_hooks_key", True):
        new.pop("hooks", None)
    state = str(settings.state_dir)
    chains = sl.load_chains(state)
    chain = chains.pop(sl.chain_key(canonical), None)
    new = cs.restore_statusline(new, chain.get("previous") if chain else None)
    remove_file = bool(record.get("created")) and not new
    if new == data and not remove_file:
        if not dry_run:
            _save_records(settings, records)
            sl.save_chains(chains, state)
        typer.echo(f"{path}: no sessionbeat hooks found")
        if dry_run:
            _dry_run_note(path)
        return
    if dry_run:
        typer.echo(_diff(path, old_text, "" if remove_file else render(new)))
        _dry_run_note(path)
        return
    backup = write_with_backup(path, old_text, None if remove_file else render(new))
    _save_records(settings, records)
    sl.save_chains(chains, state)
    typer.echo(
        f"removed sessionbeat hooks from {path}"
        + (" (the file, created by install, is gone)" if remove_file else "")
        + (f" (backup: {backup})" if backup else "")
    )


@app.command()
def status(
    ctx: typer.Context, settings_path: ReadSettingsOpt = None, project: ReadProjectOpt = False
) -> None:
    """Show which events run sessionbeat's hook (exit 1 if none)."""
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    data, _ = read_json(path)
    events = cs.installed_events(data)
    missing = [e for e in cs.HOOK_EVENTS if e not in events]
    typer.echo(
        f"{path}: {len(events)} events hooked"
        + (f"; missing {', '.join(missing)}" if missing else "")
    )
    if cs.is_our_statusline(data.get("statusLine")):
        chain = sl.load_chains(str(settings.state_dir)).get(sl.chain_key(_canonical(path)))
        previous = chain.get("previous") if chain else None
        command = previous.get("command") if isinstance(previous, dict) else None
        typer.echo(
            "status line: sessionbeat statusline" + (f", chained to: {command}" if command else "")
        )
    raise typer.Exit(0 if events else 1)
