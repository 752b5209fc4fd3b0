"""``hooks install --announce``: the agent's ``announce`` setting in sessionbeat's config file.

The agent answers ``publish --announce`` only with ``announce`` on (``Settings.announce``). So
``hooks install --announce`` writes one line ``announce = true`` with a comment saying who wrote
it into the TOML config file the settings read (``SESSIONBEAT_CONFIG``, default
``~/.config/sessionbeat/config.toml``), with tomlkit so that the rest of the file (comments,
order, tables) stays as it was (:func:`announce_config`). The install records
(``hooks-install.json``, :mod:`sessionbeat.publisher.hooks_install`) note which Claude Code
settings files announce (:func:`record_announce`); once none does, ``hooks uninstall`` (or a
plain ``hooks install``) takes the line out again (:func:`sync_config`). A line the user wrote
is never removed.
"""

from __future__ import annotations

import os
from typing import Any

import typer

from sessionbeat.errors import ConfigError
from sessionbeat.publisher.hooks_install import diff, save_records, write_with_backup
from sessionbeat.settings import Settings, config_file

ANNOUNCE_KEY = "announce"
"""The setting ``hooks install --announce`` turns on (``Settings.announce``)."""
ANNOUNCE_NOTE = "# set by `sessionbeat hooks install --announce`"
"""The comment on the line install writes; only a line with it is removed again."""
ANNOUNCE_ENV = "SESSIONBEAT_ANNOUNCE"
"""The environment variable that overrides the file."""


def announce_config(text: str, on: bool) -> str:
    """Return sessionbeat's TOML config ``text`` with ``announce`` on, or our line taken out.

    ``on``: ``announce = true`` with :data:`ANNOUNCE_NOTE` is set at the top level (a value
    already true stays as it is; a false one is replaced). Off: the ``announce`` line is
    removed only if it carries :data:`ANNOUNCE_NOTE` (one the user wrote stays). Everything
    else is kept as written (tomlkit). Raises ``ConfigError`` when ``text`` is not TOML.
    """
    import tomlkit  # ~50 ms: only here, not for every command of the CLI
    from tomlkit.exceptions import TOMLKitError
    from tomlkit.items import Item

    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(f"the config file is not valid TOML ({exc}); fix it first") from exc
    current = doc.get(ANNOUNCE_KEY)
    if on:
        if current is True:
            return text
        item = tomlkit.item(True)
        item.comment(ANNOUNCE_NOTE)
        doc[ANNOUNCE_KEY] = item
        return doc.as_string()
    if current is None:
        return text
    written = doc.item(ANNOUNCE_KEY)
    if not isinstance(written, Item) or written.trivia.comment != ANNOUNCE_NOTE:
        return text
    del doc[ANNOUNCE_KEY]
    return doc.as_string()


def wanted(records: dict[str, Any]) -> bool:
    """Return True while any settings file in the install ``records`` announces."""
    return any(isinstance(r, dict) and r.get(ANNOUNCE_KEY) for r in records.values())


def record_announce(
    settings: Settings, records: dict[str, Any], canonical: str, announce: bool, save: bool = True
) -> bool:
    """Note in install ``records`` whether the settings file ``canonical`` announces.

    Saves the records unless ``save`` is False (a dry run). Returns :func:`wanted`.
    """
    records.setdefault(canonical, {})[ANNOUNCE_KEY] = announce
    if save:
        save_records(settings, records)
    return wanted(records)


def sync_config(on: bool, dry_run: bool) -> None:
    """Make sessionbeat's config file say ``announce = true`` exactly while ``on``.

    Only a line ``hooks install --announce`` wrote is ever removed; a file left blank by that
    is removed (its backup stays). Says what it did on stdout, and that
    ``SESSIONBEAT_ANNOUNCE`` in the environment overrides the file on stderr. ``dry_run``:
    prints the config file's diff (if any) and a note on stderr, writes nothing. Raises
    ``ConfigError`` for a config file that is not TOML or cannot be read.
    """
    path = config_file()
    try:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    new = announce_config(old, on)
    if new == old:
        return
    if dry_run:
        typer.echo(diff(path, old, new), nl=False)
        typer.echo(f"dry run: nothing written to {path}", err=True)
        return
    backup = write_with_backup(path, old, new if new.strip() else None)
    typer.echo(
        f"announce: {'on' if on else 'off'} in {path}"
        + (f" (backup: {backup})" if backup else "")
        + "; restart the agent to apply it (`sessionbeat agent stop`: the next hook, or its "
        "service, starts it again)"
    )
    if ANNOUNCE_ENV in os.environ:
        typer.echo(f"warning: {ANNOUNCE_ENV} in the environment overrides the file", err=True)


def status_line(on: bool) -> str:
    """Return what ``hooks status`` says of an announcing SessionStart hook, given the setting."""
    if on:
        return "announce: SessionStart runs publish --announce; the agent's announce is on"
    return (
        "announce: SessionStart runs publish --announce, but announce is off for the agent "
        f"(run `sessionbeat hooks install --announce`, or set {ANNOUNCE_ENV}=true): it says nothing"
    )
