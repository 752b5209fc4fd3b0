"""The publisher's commands: ``agent``, ``hooks`` and ``statusline``.

``sessionbeat agent``: run, inspect, stop and install the host agent. ``agent install`` writes a
systemd user unit (Linux) or a launchd agent (macOS) that keeps the agent running; without it
the first hook starts an agent on demand. Windows: see the README (Task Scheduler, "At log on",
``sessionbeat agent run``).

``sessionbeat hooks install|uninstall|status``: wire Claude Code to sessionbeat. Edits
``~/.claude/settings.json`` (``$CLAUDE_CONFIG_DIR/settings.json``; ``--project`` for
``./.claude/settings.json``; ``--settings PATH`` for any file): adds one command hook per event
that runs the ABSOLUTE path of this installation's console script (a pyenv/asdf shim alone
costs ~130 ms per event), optionally chains the status line, keeps a timestamped backup, and
never touches other hooks or keys. ``--dry-run`` prints a unified diff, writes nothing, and ends
with a line on stderr saying so. A settings file that is a symlink (dotfiles managers) is
written through, the link stays (:mod:`sessionbeat.publisher.hooks_install`). ``--announce``
makes the SessionStart hook ``publish --announce`` and turns ``announce`` on in sessionbeat's
config file (:mod:`sessionbeat.publisher.announce_config`). ``--mcp`` also registers
(uninstall: removes) ``sessionbeat mcp`` as the user-scope MCP server ``sessionbeat`` in Claude
Code's global config, ``~/.claude.json`` (``$CLAUDE_CONFIG_DIR/.claude.json`` when set); that
file is written only with ``--mcp``, and its dry run prints the entry, not a diff of the file
(which may hold an API key).

``sessionbeat statusline``: the typer face of the status-line command (for ``--help`` and
``CliRunner``); the console script runs :func:`sessionbeat.publisher.statusline.main` directly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from sessionbeat.claude_code import mcp_config as mcp
from sessionbeat.claude_code import settings_file as cs
from sessionbeat.claude_code.events import INSTALLED_EVENTS
from sessionbeat.cli_support import configure_logging, get_settings
from sessionbeat.errors import AgentAlreadyRunningError, ConfigError
from sessionbeat.publisher import announce_config as ac
from sessionbeat.publisher import statusline as sl
from sessionbeat.publisher.agent_files import agent_pid, console_script, read_status
from sessionbeat.publisher.hooks_install import (
    McpChange,
    canonical_key,
    chain_statusline,
    change_mcp_server,
    diff,
    load_records,
    mcp_config_file,
    read_json,
    registered_mcp_server,
    render,
    save_records,
    target_file,
    write_with_backup,
)
from sessionbeat.publisher.service_files import (
    SYSTEMD_UNIT,
    launchd_plist,
    service_file,
    systemd_unit,
)

agent_app = typer.Typer(help="Run, inspect and install the host agent.", no_args_is_help=True)


@agent_app.command("run")
def agent_run(
    ctx: typer.Context,
    transport: Annotated[
        str | None,
        typer.Option(
            help="unix or tcp",
            show_default="SESSIONBEAT_AGENT_TRANSPORT or unix where available",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(help="log here", show_default="stderr; agent.log when detached"),
    ] = None,
) -> None:
    """Run the agent in the foreground until SIGTERM or Ctrl-C (exits 0 if one already runs)."""
    from sessionbeat.publisher.agent import HostAgent

    settings = get_settings(ctx)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if log_file is None and not sys.stderr.isatty() and _stderr_is_null():
        log_file = settings.state_dir / "agent.log"
    if log_file is not None:
        configure_logging(settings.log_level, log_file)
    agent = HostAgent(settings, transport=transport)

    def _stop(signum: int, frame: object) -> None:
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        agent.run()
    except AgentAlreadyRunningError as exc:
        typer.echo(f"sessionbeat: {exc}", err=True)
        raise typer.Exit(0) from None


def _stderr_is_null() -> bool:
    try:
        return os.path.samefile(f"/proc/self/fd/{sys.stderr.fileno()}", os.devnull)
    except (OSError, ValueError, AttributeError):
        return not sys.stderr.isatty()


@agent_app.command("status")
def agent_status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="print the status file as JSON")] = False,
) -> None:
    """Show whether the agent runs, its broker connection and its sessions (exit 1 if not)."""
    settings = get_settings(ctx)
    pid = agent_pid(settings)
    data = read_status(settings) or {}
    if as_json:
        typer.echo(json.dumps({"running": pid is not None, **data}, indent=2))
    elif pid is None:
        typer.echo(f"agent: not running (state dir {settings.state_dir})")
    else:
        sessions = data.get("sessions")
        count = len(sessions) if isinstance(sessions, list) else 0
        typer.echo(
            f"agent: running, pid {pid}, host {data.get('host')}, broker {data.get('broker')}, "
            f"{'connected' if data.get('connected') else 'NOT connected'}, "
            f"{count} live sessions, {data.get('spooled_pending', 0)} beats spooled"
        )
    raise typer.Exit(0 if pid is not None else 1)


@agent_app.command("stop")
def agent_stop(ctx: typer.Context) -> None:
    """Stop the running agent cleanly (SIGTERM: it publishes offline first)."""
    settings = get_settings(ctx)
    pid = agent_pid(settings)
    if pid is None:
        typer.echo("agent: not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while agent_pid(settings) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    typer.echo(f"agent {pid} stopped")


@agent_app.command("install")
def agent_install(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option(help="print the file instead of writing it")] = False,
    now: Annotated[bool, typer.Option(help="also enable and start it")] = False,
    platform: Annotated[str, typer.Option(hidden=True)] = sys.platform,
) -> None:
    """Install the agent as a user service (systemd on Linux, launchd on macOS)."""
    settings = get_settings(ctx)
    script = console_script()
    if platform.startswith("win"):
        typer.echo(
            "Windows: create a Task Scheduler task 'At log on' running:\n"
            f"  {script} agent run\n(see the README, section 'The host agent')."
        )
        raise typer.Exit(0)
    path = service_file(platform)
    if platform == "darwin":
        content = launchd_plist(script, settings)
        commands = [["launchctl", "load", "-w", str(path)]]
    else:
        content = systemd_unit(script, settings).encode()
        commands = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", SYSTEMD_UNIT],
        ]
    if dry_run:
        typer.echo(f"# would write {path}")
        typer.echo(content.decode())
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    typer.echo(f"wrote {path}")
    if now:
        for command in commands:
            subprocess.run(command, check=False)
    else:
        typer.echo("start it with: " + " && ".join(" ".join(c) for c in commands))


@agent_app.command("uninstall")
def agent_uninstall(
    ctx: typer.Context, platform: Annotated[str, typer.Option(hidden=True)] = sys.platform
) -> None:
    """Remove the user service that 'agent install' wrote (stopping it first)."""
    path = service_file(platform)
    if not path.exists():
        typer.echo(f"nothing installed at {path}")
        return
    if platform == "darwin":
        subprocess.run(["launchctl", "unload", "-w", str(path)], check=False)
    elif shutil.which("systemctl"):
        subprocess.run(["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT], check=False)
    path.unlink()
    typer.echo(f"removed {path}")


hooks_app = typer.Typer(
    help="Install Claude Code hooks that report to sessionbeat.", no_args_is_help=True
)


SettingsOpt = Annotated[Path | None, typer.Option("--settings", help="settings.json to edit")]
ProjectOpt = Annotated[bool, typer.Option(help="edit ./.claude/settings.json instead")]
ReadSettingsOpt = Annotated[Path | None, typer.Option("--settings", help="settings.json to read")]
ReadProjectOpt = Annotated[bool, typer.Option(help="read ./.claude/settings.json instead")]
DryRunOpt = Annotated[bool, typer.Option(help="print the diff, write nothing")]
McpOpt = Annotated[
    bool,
    typer.Option(
        "--mcp",
        help="also register sessionbeat's MCP server for Claude Code (user scope, "
        "~/.claude.json) and allow its read-only tools (permissions.allow: mcp__sessionbeat)",
    ),
]
UninstallMcpOpt = Annotated[
    bool,
    typer.Option(
        "--mcp",
        help="also unregister sessionbeat's MCP server (~/.claude.json) and its allow rule",
    ),
]


def _dry_run_note(*paths: Path) -> None:
    """Say on stderr that a --dry-run wrote nothing (stdout keeps only the diff)."""
    typer.echo(f"dry run: nothing written to {' or '.join(map(str, paths))}", err=True)


def _mcp_report(change: McpChange, dry_run: bool) -> None:
    """Print what registering or unregistering the MCP server did (or would do)."""
    where = f"mcpServers.{mcp.SERVER_NAME} in {change.path}"
    if not change.changed:
        state = "registered" if change.after is not None else "not registered"
        typer.echo(f"MCP server: {where} is {state} already, nothing to change")
    elif dry_run and change.after is not None:
        typer.echo(f"MCP server: would write {where}:")
        typer.echo(json.dumps({mcp.SERVER_NAME: change.after}, indent=2))
    elif dry_run:
        typer.echo(f"MCP server: would remove {where}")
    elif change.after is not None:
        command = " ".join([change.after["command"], *change.after["args"]])
        typer.echo(f"MCP server: registered {where}: {command} (new Claude Code sessions)")
    else:
        typer.echo(f"MCP server: removed {where}")
    if change.backup:
        typer.echo(f"backup: {change.backup}")


@hooks_app.command("install")
def hooks_install_command(
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
    mcp_server: McpOpt = False,
    script: Annotated[str | None, typer.Option(hidden=True)] = None,
    announce: Annotated[
        bool,
        typer.Option(
            "--announce",
            help="SessionStart tells the model which other live sessions work on its repo "
            "(sets announce = true in the config file)",
        ),
    ] = False,
) -> None:
    """Add sessionbeat's hooks to Claude Code's settings (idempotent, with a backup).

    With --mcp, also register 'sessionbeat mcp' as a user-scope MCP server
    in ~/.claude.json ($CLAUDE_CONFIG_DIR/.claude.json when that is set).
    """
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    canonical = canonical_key(path)
    data, old_text = read_json(path)
    command_path = script or str(console_script())
    try:
        new = cs.add_hooks(data, command_path, announce=announce)
        if mcp_server:  # its tools only read: calling them needs no prompt
            new = cs.allow_rule(new, mcp.ALLOW_RULE)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    state = str(settings.state_dir)
    chains = sl.load_chains(state)
    key = sl.chain_key(canonical)
    if statusline is True:
        new = chain_statusline(new, command_path, key, canonical, chains)
    elif statusline is False:
        chain = chains.pop(key, None)
        new = cs.restore_statusline(new, chain.get("previous") if chain else None)
    new_text = render(new)
    unchanged = new == data and bool(old_text)
    mcp_entry = mcp.sessionbeat_entry(command_path, settings.api_url) if mcp_server else None
    mcp_path = mcp_config_file(settings)
    if dry_run:
        typer.echo("no change" if unchanged else diff(path, old_text, new_text))
        if mcp_entry is not None:
            _mcp_report(change_mcp_server(mcp_path, mcp_entry, dry_run=True), dry_run=True)
            _dry_run_note(path, mcp_path)
        else:
            _dry_run_note(path)
        records = load_records(settings)
        on = ac.record_announce(settings, records, canonical, announce, save=False)
        ac.sync_config(on, dry_run=True)
        return
    if mcp_entry is not None:  # first: a file we cannot edit stops before anything is written
        _mcp_report(change_mcp_server(mcp_path, mcp_entry, dry_run=False), dry_run=False)
    records = load_records(settings)
    if unchanged:
        sl.save_chains(chains, state)
        typer.echo(f"{path}: already installed, nothing to change")
        ac.sync_config(ac.record_announce(settings, records, canonical, announce), dry_run=False)
        return
    records.setdefault(canonical, {"had_hooks_key": "hooks" in data, "created": not path.exists()})
    backup = write_with_backup(path, old_text, new_text)
    save_records(settings, records)
    announcing = ac.record_announce(settings, records, canonical, announce)
    sl.save_chains(chains, state)
    typer.echo(f"installed sessionbeat hooks for {len(INSTALLED_EVENTS)} events in {path}")
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
    ac.sync_config(announcing, dry_run=False)


@hooks_app.command("uninstall")
def hooks_uninstall(
    ctx: typer.Context,
    settings_path: SettingsOpt = None,
    project: ProjectOpt = False,
    dry_run: DryRunOpt = False,
    mcp_server: UninstallMcpOpt = False,
) -> None:
    """Remove sessionbeat's hooks (and restore the previous status line); others stay.

    With --mcp, also unregister sessionbeat's MCP server from ~/.claude.json.
    """
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    canonical = canonical_key(path)
    data, old_text = read_json(path)
    touched = [path]
    if mcp_server:
        touched.append(mcp_config_file(settings))
        _mcp_report(change_mcp_server(touched[1], None, dry_run=dry_run), dry_run=dry_run)
    new = cs.remove_hooks(data)
    if mcp_server:
        new = cs.drop_rule(new, mcp.ALLOW_RULE)
    records = load_records(settings)
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
            save_records(settings, records)
            sl.save_chains(chains, state)
        typer.echo(f"{path}: no sessionbeat hooks found")
        if dry_run:
            _dry_run_note(*touched)
        ac.sync_config(ac.wanted(records), dry_run)
        return
    if dry_run:
        typer.echo(diff(path, old_text, "" if remove_file else render(new)))
        _dry_run_note(*touched)
        ac.sync_config(ac.wanted(records), dry_run=True)
        return
    backup = write_with_backup(path, old_text, None if remove_file else render(new))
    save_records(settings, records)
    sl.save_chains(chains, state)
    typer.echo(
        f"removed sessionbeat hooks from {path}"
        + (" (the file, created by install, is gone)" if remove_file else "")
        + (f" (backup: {backup})" if backup else "")
    )
    ac.sync_config(ac.wanted(records), dry_run=False)


@hooks_app.command("status")
def hooks_status(
    ctx: typer.Context, settings_path: ReadSettingsOpt = None, project: ReadProjectOpt = False
) -> None:
    """Show which events run sessionbeat's hook (exit 1 if none)."""
    settings = get_settings(ctx)
    path = target_file(settings, settings_path, project)
    data, _ = read_json(path)
    events = cs.installed_events(data)
    missing = [e for e in INSTALLED_EVENTS if e not in events]
    typer.echo(
        f"{path}: {len(events)} events hooked"
        + (f"; missing {', '.join(missing)}" if missing else "")
    )
    if cs.is_our_statusline(data.get("statusLine")):
        chain = sl.load_chains(str(settings.state_dir)).get(sl.chain_key(canonical_key(path)))
        previous = chain.get("previous") if chain else None
        command = previous.get("command") if isinstance(previous, dict) else None
        typer.echo(
            "status line: sessionbeat statusline" + (f", chained to: {command}" if command else "")
        )
    if cs.announces(data):
        typer.echo(ac.status_line(settings.announce))
    typer.echo(_mcp_status(mcp_config_file(settings)))
    raise typer.Exit(0 if events else 1)


def _mcp_status(path: Path) -> str:
    """Return the line `hooks status` prints about our MCP server in ``path``."""
    try:
        entry = registered_mcp_server(path)
    except ConfigError as exc:
        return f"MCP server: unknown ({exc})"
    if entry is None:
        return f"MCP server: not registered in {path} (sessionbeat hooks install --mcp)"
    command = " ".join(str(part) for part in [entry.get("command"), *(entry.get("args") or [])])
    return f"MCP server: registered in {path}: {command}"


def statusline(
    ctx: typer.Context,
    chain: Annotated[
        str | None,
        typer.Option(help="key of the previous status line to run (set by hooks install)"),
    ] = None,
) -> None:
    """Status-line command for Claude Code: publishes exact context data, then shows a line.

    Reads Claude Code's status-line JSON on stdin and hands it to the host agent.
    Then it runs the status line you had before 'hooks install --statusline', output unchanged.
    Without one, it prints 'model · ctx N% · repo'.
    """
    from sessionbeat.publisher.statusline import main

    raise typer.Exit(main(["--chain", chain] if chain else []))
