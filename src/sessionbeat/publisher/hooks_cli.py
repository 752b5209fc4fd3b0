"""``sessionbeat hooks install|uninstall|status``: wire Claude Code to sessionbeat.

Edits ``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json``; ``--project`` for
``./.claude/settings.json``; ``--settings PATH`` for any file): adds one command hook per event
that runs the ABSOLUTE path of this installation's console script (a pyenv/asdf shim alone
costs ~130 ms per event), optionally chains the status line, keeps a timestamped backup, and
never touches other hooks or keys. ``--dry-run`` prints a unified diff and writes nothing.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sessionbeat.cli_support import get_settings
from sessionbeat.errors import ConfigError
from sessionbeat.publisher import claude_settings as cs
from sessionbeat.publisher.agent_cli import console_script
from sessionbeat.publisher.statusline import CHAIN_FILE
from sessionbeat.settings import Settings

app = typer.Typer(
    help="Install Claude Code hooks that report to sessionbeat.", no_args_is_help=True
)

RECORD_FILE = "hooks-install.json"

SettingsOpt = Annotated[Path | None, typer.Option("--settings", help="settings.json to edit")]
ProjectOpt = Annotated[bool, typer.Option(help="edit ./.claude/settings.json instead")]
DryRunOpt = Annotated[bool, typer.Option(help="print the diff, write nothing")]


def target_file(settings: Settings, path: Path | None, project: bool) -> Path:
    """Return the settings file to edit (``--settings``, ``--project`` or the user file)."""
    if path is not None:
        return path
    if project:
        return Path.cwd() / ".claude" / "settings.json"
    return settings.claude_config_dir / "settings.json"


def read_json(path: Path) -> tuple[dict[str, Any], str]:
    """Return the parsed settings and their text ('{}' for a missing or empty file).

    Raises ``ConfigError`` when the file is not a JSON object: we never overwrite what we
    cannot read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, ""
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


def write_with_backup(path: Path, old_text: str, new_text: str) -> Path | None:
    """Back up the existing file, then replace it atomically; returns the backup path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.sessionbeat-{time.strftime('%Y%m%d-%H%M%S')}.bak")
        backup.write_text(old_text, encoding="utf-8")
    tmp = path.with_name(path.name + ".sessionbeat-tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, path)
    return backup


def _records(settings: Settings) -> dict[str, Any]:
    try:
        data = json.loads((settings.state_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_record(settings: Settings, key: str, value: dict[str, Any] | None) -> None:
    records = _records(settings)
    if value is None:
        records.pop(key, None)
    else:
        records[key] = value
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    (settings.state_dir / RECORD_FILE).write_text(json.dumps(records, indent=2))


def _diff(path: Path, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"{path} (now)", f"{path} (after)"
        )
    )


@app.command()
def install(
    ctx: typer.Context,
    settings_path: SettingsOpt = None,
    project: ProjectOpt = False,
    dry_run: DryRunOpt = False,
    statusline: Annotated[
        bool, typer.Option(help="also chain sessionbeat's status line (exact context %)")
    ] = False,
    script: Annotated[str | None, typer.Option(hidden=True)] = None,
) -> None:
    """Add sessionbeat's hooks to Claude Code's settings (idempotent, with a backup)."""
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    data, old_text = read_json(path)
    command_path = script or str(console_script())
    new = cs.add_hooks(data, command_path)
    previous: Any = None
    chained = False
    if statusline:
        new, previous = cs.set_statusline(new, command_path)
        chained = previous is not None or not cs.is_our_statusline(data.get("statusLine"))
    new_text = render(new)
    if new == data and old_text:
        typer.echo(f"{path}: already installed, nothing to change")
        return
    if dry_run:
        typer.echo(_diff(path, old_text, new_text) or "no change")
        return
    backup = write_with_backup(path, old_text, new_text)
    record = _records(settings).get(str(path), {"had_hooks_key": "hooks" in data})
    _save_record(settings, str(path), record)
    if chained:
        (settings.state_dir / CHAIN_FILE).write_text(
            json.dumps({"settings": str(path), "previous": previous}, indent=2)
        )
    typer.echo(f"installed sessionbeat hooks for {len(cs.HOOK_EVENTS)} events in {path}")
    if backup:
        typer.echo(f"backup: {backup}")
    if statusline:
        typer.echo(
            "status line: sessionbeat statusline"
            + (" (chained to your previous one)" if previous else "")
        )


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
    data, old_text = read_json(path)
    new = cs.remove_hooks(data)
    record = _records(settings).get(str(path), {})
    if not new.get("hooks") and not record.get("had_hooks_key", True):
        new.pop("hooks", None)
    chain_file = settings.state_dir / CHAIN_FILE
    previous = None
    with contextlib.suppress(OSError, ValueError, AttributeError):
        previous = json.loads(chain_file.read_text()).get("previous")
    new = cs.restore_statusline(new, previous)
    if new == data:
        typer.echo(f"{path}: no sessionbeat hooks found")
        return
    new_text = render(new)
    if dry_run:
        typer.echo(_diff(path, old_text, new_text))
        return
    backup = write_with_backup(path, old_text, new_text)
    _save_record(settings, str(path), None)
    chain_file.unlink(missing_ok=True)
    typer.echo(
        f"removed sessionbeat hooks from {path}" + (f" (backup: {backup})" if backup else "")
    )


@app.command()
def status(
    ctx: typer.Context, settings_path: SettingsOpt = None, project: ProjectOpt = False
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
        typer.echo("status line: sessionbeat statusline")
    raise typer.Exit(0 if events else 1)
