"""Merging sessionbeat's hooks into Claude Code's ``settings.json`` and taking them out again.

Format (https://code.claude.com/docs/en/hooks, docs/claude-code-formats.md section 2)::

    {"hooks": {"<Event>": [{"matcher": "...", "hooks": [{"type": "command", "command": "...",
                                                           "async": true, "timeout": 5}]}]},
     "statusLine": {"type": "command", "command": "...", "padding": 0}}

Our handlers are recognised by their command (``<any path>/sessionbeat publish``, quoted or not,
``sessionbeat.exe`` on Windows, ``publish --announce`` for SessionStart after ``hooks install
--announce``); nothing else in the file is touched. Pure functions over parsed
JSON; :mod:`sessionbeat.publisher.hooks_install` does the file I/O.
"""

from __future__ import annotations

import copy
import re
import shlex
from typing import Any

from sessionbeat.claude_code.events import INSTALLED_EVENTS, SYNC_EVENTS, HookEvent

HOOK_TIMEOUT = 5
"""Seconds Claude Code waits at most; the hook returns in milliseconds."""


def quote_script(script: str) -> str:
    """Return ``script`` quoted for the shell Claude Code runs hook commands with.

    That is ``sh -c`` on POSIX and Git Bash on Windows (``bash -c``; PowerShell only without Git
    for Windows, 2.1.120+), where a backslash is an escape character: Windows paths get forward
    slashes (``C:/Users/x/venv/Scripts/sessionbeat.exe``), which Git Bash and PowerShell both
    accept. Then POSIX quoting (``shlex.quote``), i.e. single quotes only when needed.
    """
    if "\\" in script or _DRIVE.match(script):
        script = script.replace("\\", "/")
    return shlex.quote(script)


ANNOUNCE_EVENT = HookEvent.SESSION_START
"""The event whose hook runs ``publish --announce`` when asked: only its output becomes context."""
ANNOUNCE_TIMEOUT = 2
"""Seconds Claude Code waits for that hook, run synchronously (it answers within 0.3 s)."""


def hook_command(script: str, announce: bool = False) -> str:
    """Return the hook command for the console script at ``script`` (quoted if needed).

    ``announce`` adds ``--announce`` (the hook may print context for the model).
    """
    return f"{quote_script(script)} publish" + (" --announce" if announce else "")


def statusline_command(script: str, key: str | None = None) -> str:
    """Return the status-line command for the console script at ``script``.

    ``key`` (see :func:`sessionbeat.publisher.statusline.chain_key`) names the recorded
    previous status line to chain.
    """
    command = f"{quote_script(script)} statusline"
    return f"{command} --chain {key}" if key else command


_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_OUR_HOOK = re.compile(r"(?<![\w.-])sessionbeat(?:\.exe)?['\"]?\s+publish(?:\s+--announce)?\s*$")
_OUR_STATUSLINE = re.compile(r"(?<![\w.-])sessionbeat(?:\.exe)?['\"]?\s+statusline(?:\s|$)")


def is_ours(handler: Any) -> bool:
    """Return True for a handler that runs ``sessionbeat publish`` (any install path)."""
    command = handler.get("command") if isinstance(handler, dict) else None
    return isinstance(command, str) and _OUR_HOOK.search(command) is not None


def is_our_statusline(statusline: Any) -> bool:
    """Return True for a statusLine that runs ``sessionbeat statusline``."""
    command = statusline.get("command") if isinstance(statusline, dict) else None
    return isinstance(command, str) and _OUR_STATUSLINE.search(command) is not None


def _handler(event: str, script: str, announce: bool = False) -> dict[str, Any]:
    if announce and event == ANNOUNCE_EVENT:
        # Synchronous: Claude Code adds a SessionStart hook's output to the context only then.
        command = hook_command(script, announce=True)
        return {"type": "command", "command": command, "timeout": ANNOUNCE_TIMEOUT}
    handler: dict[str, Any] = {"type": "command", "command": hook_command(script)}
    if event in SYNC_EVENTS:
        handler["timeout"] = 2
    else:
        handler["async"] = True
        handler["timeout"] = HOOK_TIMEOUT
    return handler


def remove_hooks(settings: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``settings`` without any of our handlers (empty groups/events go)."""
    result = copy.deepcopy(settings)
    hooks = result.get("hooks")
    if not isinstance(hooks, dict):
        return result
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                had = len(group["hooks"])
                group["hooks"] = [h for h in group["hooks"] if not is_ours(h)]
                if had and not group["hooks"]:
                    continue  # the group held only our handler
            kept.append(group)
        if kept:
            hooks[event] = kept
        else:
            del hooks[event]
    return result


def add_hooks(settings: dict[str, Any], script: str, *, announce: bool = False) -> dict[str, Any]:
    """Return a copy of ``settings`` with one group of ours per event of ``INSTALLED_EVENTS``.

    The events are :data:`sessionbeat.claude_code.events.INSTALLED_EVENTS`, in that order.
    Previous handlers of ours are replaced (e.g. after the venv moved); other hooks stay as and
    where they are. Applying it twice gives the same result. ``announce``: the SessionStart
    handler runs ``publish --announce``, synchronously (:data:`ANNOUNCE_TIMEOUT`).
    """
    result = remove_hooks(settings)
    hooks = result.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ValueError("settings.json: 'hooks' is not an object")
    for event in INSTALLED_EVENTS:
        groups = hooks.setdefault(str(event), [])
        if not isinstance(groups, list):
            raise ValueError(f"settings.json: hooks.{event} is not a list")
        groups.append({"hooks": [_handler(event, script, announce)]})
    return result


def set_statusline(
    settings: dict[str, Any], script: str, key: str | None = None
) -> tuple[dict[str, Any], Any, bool]:
    """Return ``(settings with our statusLine, the previous statusLine or None, replaced)``.

    ``replaced`` is False when ours was already in place: then only its command is brought up
    to date (e.g. after the venv moved) and the previous value returned is None (the one
    recorded at the first install still holds). The previous line's other fields (``padding``,
    ``refreshInterval``) are kept; ``refreshInterval`` defaults to 10 s so the context figure
    stays fresh while Claude works.
    """
    result = copy.deepcopy(settings)
    previous = result.get("statusLine")
    command = statusline_command(script, key)
    if isinstance(previous, dict) and is_our_statusline(previous):
        result["statusLine"] = {**previous, "command": command}
        return result, None, False
    line: dict[str, Any] = {"type": "command", "padding": 0}
    if isinstance(previous, dict):
        line.update({k: v for k, v in previous.items() if k not in ("command", "type")})
    line["type"] = "command"
    line["command"] = command
    line.setdefault("refreshInterval", 10)
    result["statusLine"] = line
    return result, previous, True


def restore_statusline(settings: dict[str, Any], previous: Any) -> dict[str, Any]:
    """Return ``settings`` with our statusLine replaced by ``previous`` (removed if None).

    A statusLine that is not ours (the user changed it since) is left alone.
    """
    result = copy.deepcopy(settings)
    if not is_our_statusline(result.get("statusLine")):
        return result
    if previous is None:
        result.pop("statusLine", None)
    else:
        result["statusLine"] = previous
    return result


def installed_events(settings: dict[str, Any]) -> list[str]:
    """Return the events that have a handler of ours."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return []
    return [
        event
        for event, groups in hooks.items()
        if isinstance(groups, list)
        and any(
            isinstance(g, dict) and any(is_ours(h) for h in g.get("hooks") or []) for g in groups
        )
    ]


def our_command(settings: dict[str, Any], event: str) -> str:
    """Return the command of our handler for ``event`` ('' if there is none)."""
    groups = (settings.get("hooks") or {}).get(event) or []
    for group in groups if isinstance(groups, list) else []:
        for handler in group.get("hooks") or [] if isinstance(group, dict) else []:
            if is_ours(handler):
                return str(handler["command"])
    return ""


def allow_rule(settings: dict[str, Any], rule: str) -> dict[str, Any]:
    """Return a copy of ``settings`` whose ``permissions.allow`` holds ``rule`` (once).

    Claude Code's permission rules (settings files, ``permissions.allow``): ``mcp__<server>``
    allows every tool of that MCP server without asking. Raises ``ValueError`` when
    ``permissions`` or its ``allow`` is not of the documented shape.
    """
    result = copy.deepcopy(settings)
    permissions = result.setdefault("permissions", {})
    if not isinstance(permissions, dict):
        raise ValueError("settings.json: 'permissions' is not an object")
    allow = permissions.setdefault("allow", [])
    if not isinstance(allow, list):
        raise ValueError("settings.json: permissions.allow is not a list")
    if rule not in allow:
        allow.append(rule)
    return result


def drop_rule(settings: dict[str, Any], rule: str) -> dict[str, Any]:
    """Return a copy of ``settings`` without ``rule`` in ``permissions.allow``.

    An ``allow`` list or ``permissions`` object left empty by that is removed too.
    """
    result = copy.deepcopy(settings)
    permissions = result.get("permissions")
    if not isinstance(permissions, dict) or not isinstance(permissions.get("allow"), list):
        return result
    permissions["allow"] = [r for r in permissions["allow"] if r != rule]
    if not permissions["allow"]:
        del permissions["allow"]
    if not permissions:
        del result["permissions"]
    return result


def announces(settings: dict[str, Any]) -> bool:
    """Return True when our SessionStart handler runs ``publish --announce``."""
    return our_command(settings, ANNOUNCE_EVENT).rstrip().endswith("--announce")
