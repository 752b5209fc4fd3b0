"""Capture real hook payloads, registry files and status-line input of the pinned Claude Code.

Run from the repo root (takes about a minute; needs npm and tmux, no network besides npm)::

    .venv/bin/python -m tests.real_client.capture_fixtures [OUT_DIR]

``OUT_DIR`` defaults to ``tests/fixtures/claude-code/real-<version>/``. Each scenario runs the
real ``claude`` against :class:`~tests.real_client.messages_api.MessagesAPI` in a temporary home
whose ``settings.json`` runs :mod:`tests.real_client.hook_logger` for every hook event and as the
status line, while a thread polls ``$CLAUDE_CONFIG_DIR/sessions/`` every 10 ms. The payloads are
written pretty-printed with the temporary paths replaced (home -> ``/home/user``), together with a
``README.md`` listing the hook sequence and the registry status changes of each scenario.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.real_client.driver import (
    TmuxClaude,
    claude_env,
    config_dir_of,
    run_print,
    seed_home,
)
from tests.real_client.install import claude_code_version, ensure_claude
from tests.real_client.messages_api import MessagesAPI

HOOK_EVENTS = (
    "SessionStart", "SessionEnd", "Setup", "UserPromptSubmit", "UserPromptExpansion",
    "PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse", "PostToolUseFailure",
    "PostToolBatch", "Notification", "MessageDisplay", "Stop", "StopFailure", "SubagentStart",
    "SubagentStop", "PreCompact", "PostCompact", "PreModelSwitch", "PostModelSwitch",
    "TeammateIdle", "TaskCreated", "TaskCompleted", "Elicitation", "ElicitationResult",
    "ConfigChange", "InstructionsLoaded", "CwdChanged", "DirectoryAdded",
)  # fmt: skip
"""Hook events logged: those listed in Claude Code 2.1.328's binary, except WorktreeCreate and
WorktreeRemove (a command hook there replaces git's own worktree handling) and FileChanged
(needs a file-name matcher)."""

NOTES = (
    f"Seen with Claude Code {claude_code_version()} in these runs or while building the harness "
    "(check again after a version bump):",
    "",
    "* Answering a permission prompt with No, or Esc while a tool runs, fires **no hook at all** "
    "(no PostToolUseFailure, no Stop); the registry goes from waiting/busy to idle.",
    "* SIGKILL leaves `<pid>.json` (and a `<pid>.<hash>.key` file) in the sessions dir; no "
    "SessionEnd.",
    "* `/compact` sends one summarization request, fires PreCompact, a SubagentStop with "
    '`agent_type` "" (the summarizer), SessionStart `source: compact`, then PostCompact.',
    "* By default (interactive) the Agent tool runs subagents in the background: Stop fires "
    "while the subagent still runs and the registry stays busy until it ends; its completion "
    "comes back as a new turn (UserPromptSubmit, a `<task-notification>` user message, Stop). "
    "`CLAUDE_CODE_DISABLE_BACKGROUND_TASKS=1` makes the Agent tool wait (foreground).",
    '* `claude -p` writes a registry file too (`kind` "interactive", `entrypoint` '
    '"sdk-cli", no `tmux` field), deleted at exit; its SessionEnd reason is `other`. In tmux '
    "the file's `tmux` field is `<session>:<window id>.<pane id>` (`claude:@0.%0` here).",
    "* A Bash command whose first command is a standalone `sleep N` with N ≥ 25 is refused "
    'before any hook (no PreToolUse); `python3 -c "import time; time.sleep(60)"` runs.',
)
"""Hand-checked observations, written into the README."""

FAKE_HOME = "/home/user"
FAKE_WORK = "/home/user/work/demo"
LOGGER = Path(__file__).with_name("hook_logger.py")


@dataclass
class Capture:
    """What one scenario run produced (times are epoch seconds)."""

    name: str
    how: str
    home: Path
    work: Path
    hooks: list[tuple[float, str, bytes]] = field(default_factory=list)
    statuslines: list[tuple[float, bytes]] = field(default_factory=list)
    registry: list[tuple[float, str, str | None]] = field(default_factory=list)
    api: list[tuple[float, str]] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    keep_from: int = 0

    def mark(self, what: str) -> None:
        """Note a harness action (key press, prompt) in the timeline."""
        self.marks.append((time.time(), what))

    def scrub(self, text: str) -> str:
        """Replace the temporary home (also in its encoded project-dir form) by ``/home/user``."""
        encoded = "".join(c if c.isalnum() else "-" for c in str(self.work))
        return text.replace(encoded, "-home-user-work-demo").replace(str(self.home), FAKE_HOME)


class RegistryWatch:
    """Poll ``<config dir>/sessions/*.json`` every 10 ms; record each new content or deletion."""

    def __init__(self, folder: Path, log: list[tuple[float, str, str | None]]) -> None:
        self.folder, self.log = folder, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last: dict[str, str] = {}
        while not self._stop.is_set():
            seen = set()
            for path in self.folder.glob("*.json"):
                seen.add(path.name)
                try:
                    text = path.read_text(encoding="utf-8")
                except OSError:
                    continue
                if text.strip() and last.get(path.name) != text:
                    last[path.name] = text
                    self.log.append((time.time(), path.name, text))
            for name in set(last) - seen:
                del last[name]
                self.log.append((time.time(), name, None))
            time.sleep(0.01)

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join()


@contextmanager
def rig(
    name: str, how: str, scenario: str, extra: dict[str, str] | None = None
) -> Iterator[tuple[Capture, Path, dict[str, str]]]:
    """Set up a temp home with logging hooks and a scripted API; yield (capture, claude, env)."""
    root = Path(tempfile.mkdtemp(prefix="sb-capture-"))
    home = root / "home"
    work = home / "work" / "demo"
    work.mkdir(parents=True)
    logs = root / "logs"
    logs.mkdir()
    cap = Capture(name, how, home, work)
    claude = ensure_claude()
    with MessagesAPI(scenario) as api:
        env = claude_env(
            home, api.url, {"CLAUDE_CONFIG_DIR": str(home / ".claude"), **(extra or {})}
        )
        config = config_dir_of(env)
        seed_home(home, work, config_dir=config)
        command = (
            f"{shlex.quote(sys.executable)} {shlex.quote(str(LOGGER))} {shlex.quote(str(logs))}"
        )
        hook = [{"matcher": "", "hooks": [{"type": "command", "command": command}]}]
        settings = {
            "hooks": {event: hook for event in HOOK_EVENTS},
            "statusLine": {"type": "command", "command": command + " statusline"},
        }
        (config / "settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
        watch = RegistryWatch(config / "sessions", cap.registry)
        try:
            yield cap, claude, env
            time.sleep(1.0)  # let the last hooks finish writing
        finally:
            watch.close()
            for rec in api.requests:
                label = f"{rec.reply_name or rec.reply_index} ({rec.status})"
                cap.api.append((rec.time, label + (f" {rec.error}" if rec.error else "")))
            for path in sorted(logs.glob("*.json")):
                stamp, event = path.stem.split("-", 1)
                when, raw = int(stamp) / 1e9, path.read_bytes()
                if event == "statusline":
                    cap.statuslines.append((when, raw))
                else:
                    cap.hooks.append((when, event, raw))
            shutil.rmtree(root, ignore_errors=True)


def capture_print() -> Capture:
    """``claude -p`` with ``--allowedTools Bash`` against ``bash_touch``."""
    how = "`claude -p 'make the file' --allowedTools Bash`, scenario `bash_touch`"
    with rig("print", how, "bash_touch") as (cap, claude, env):
        cap.mark("start claude -p")
        result = run_print(claude, "make the file", cap.work, env, ["--allowedTools", "Bash"])
        cap.mark("claude -p exited")
        assert result.returncode == 0, result.stderr
    return cap


def capture_interactive(background: bool) -> Capture:
    """Interactive ``interactive_tour``: approve, subagent, ``/compact`` (foreground), ``/exit``.

    With ``background`` Claude Code's default is kept (subagents run in the background) and only
    the hooks from the second prompt on are kept; without it
    ``CLAUDE_CODE_DISABLE_BACKGROUND_TASKS=1`` makes the Agent tool wait for its subagent.
    """
    extra = {} if background else {"CLAUDE_CODE_DISABLE_BACKGROUND_TASKS": "1"}
    name = "interactive-background-agent" if background else "interactive"
    how = "interactive (tmux), `--permission-mode default`, scenario `interactive_tour`" + (
        "" if background else ", `CLAUDE_CODE_DISABLE_BACKGROUND_TASKS=1`"
    )
    with (
        rig(name, how, "interactive_tour", extra) as (cap, claude, env),
        TmuxClaude(claude, cap.work, env) as tui,
    ):
        tui.wait_for("❯", 30)
        time.sleep(1)
        step(cap, "type 'make the file'", lambda: tui.type_line("make the file"))
        tui.wait_for("Do you want to proceed?", 30)
        time.sleep(8)  # long enough for the permission Notification (about 6 s)
        step(cap, "press Enter (1. Yes)", lambda: tui.send("Enter"))
        tui.wait_for("Done.", 30)
        time.sleep(2)
        if background:
            cap.keep_from = len(cap.marks)
        step(cap, "type 'delegate please'", lambda: tui.type_line("delegate please"))
        tui.wait_for("Agent finished.", 30)
        if background:
            tui.wait_for("background agent reported back", 30)
        time.sleep(2)
        if not background:
            step(cap, "type '/compact'", lambda: tui.type_line("/compact"))
            tui.wait_for("Compacted", 30)
            time.sleep(2)
        step(cap, "type '/exit'", lambda: tui.type_line("/exit"))
        deadline = time.monotonic() + 20
        while tui.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        cap.mark("claude exited" if not tui.alive() else "claude still running")
    return cap


def capture_deny_interrupt() -> Capture:
    """Interactive ``deny_interrupt``: answer No, interrupt a running command with Esc, SIGKILL."""
    how = "interactive (tmux), `--permission-mode default`, scenario `deny_interrupt`"
    with (
        rig("deny-interrupt-kill", how, "deny_interrupt") as (cap, claude, env),
        TmuxClaude(claude, cap.work, env) as tui,
    ):
        tui.wait_for("❯", 30)
        time.sleep(1)
        step(cap, "type 'make the file'", lambda: tui.type_line("make the file"))
        tui.wait_for("Do you want to proceed?", 30)
        time.sleep(1)
        step(cap, "press 4 (No)", lambda: tui.send("4"))
        tui.wait_for("Interrupted", 30)
        time.sleep(2)
        step(cap, "type 'wait please'", lambda: tui.type_line("wait please"))
        tui.wait_for("Do you want to proceed?", 30)
        time.sleep(1)
        step(cap, "press Enter (1. Yes)", lambda: tui.send("Enter"))
        time.sleep(3)
        step(cap, "press Esc while the command runs", lambda: tui.send("Escape"))
        tui.wait_for(re.compile(r"Interrupted[\s\S]*Interrupted"), 30)
        time.sleep(2)
        step(cap, "SIGKILL claude", tui.kill9)
        time.sleep(2)
        left = sorted(p.name for p in (config_dir_of(env) / "sessions").iterdir())
        cap.mark(f"registry dir after SIGKILL: {', '.join(left) or 'empty'}")
    return cap


def step(cap: Capture, what: str, action: Callable[[], None]) -> None:
    """Note ``what`` in the timeline, then do it."""
    cap.mark(what)
    action()


def registry_changes(cap: Capture) -> list[tuple[float, str]]:
    """Return each registry write or deletion as (time, text), times from ``statusUpdatedAt``.

    A write's time is Claude Code's own ``statusUpdatedAt`` (epoch ms) when it has one, else
    when the poll saw it.
    """
    changes = []
    for seen, name, text in cap.registry:
        if text is None:
            changes.append((seen, f"registry `{name}` deleted"))
            continue
        doc = json.loads(text)
        if "status" not in doc:
            what = f"kind={doc.get('kind')}, entrypoint={doc.get('entrypoint')}, no status yet"
            changes.append((seen, f"registry `{name}` written ({what})"))
            continue
        waiting = f", waitingFor {doc['waitingFor']!r}" if doc.get("waitingFor") else ""
        changes.append(
            (doc["statusUpdatedAt"] / 1000, f"registry status **{doc['status']}**{waiting}")
        )
    return changes


def timeline(cap: Capture) -> list[tuple[float, str]]:
    """Merge hooks, registry changes, API requests and harness actions, ordered by time."""
    events: list[tuple[float, str]] = [(t, f"hook {e}") for t, e, _ in cap.hooks]
    events += [(t, "status line") for t, _ in cap.statuslines]
    events += [(t, f"API request → {label}") for t, label in cap.api]
    events += [(t, f"*{what}*") for t, what in cap.marks]
    events += registry_changes(cap)
    return sorted(events)


def status_sequence(cap: Capture) -> str:
    """Return the registry's status changes as one line, e.g. ``idle → busy → idle → deleted``."""
    steps = []
    for _, _name, text in cap.registry:
        doc = json.loads(text) if text else None
        if doc is None:
            steps.append("(file deleted)")
        elif "status" in doc:
            steps.append(
                doc["status"] + (f" ({doc['waitingFor']})" if doc.get("waitingFor") else "")
            )
    return " → ".join(steps)


def write_fixtures(captures: list[Capture], out: Path) -> None:
    """Write the hook files, registry-waiting.json, statusline-1.json and README.md to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    counts: dict[str, int] = {}
    rows: list[str] = []
    for cap in captures:
        start = cap.marks[cap.keep_from][0] if cap.keep_from else 0.0
        for t, event, raw in cap.hooks:
            if t < start:
                continue
            counts[event] = counts.get(event, 0) + 1
            name = f"hook-{event}-{counts[event]}.json"
            save(out / name, cap.scrub(raw.decode()))
            rows.append(f"| `{name}` | {cap.name} | {summary(json.loads(raw))} |")
    tour = next(c for c in captures if c.name == "interactive")
    waiting = next(text for _, _, text in tour.registry if text and '"waiting"' in text)
    save(out / "registry-waiting.json", tour.scrub(waiting))
    rows.append(
        f"| `registry-waiting.json` | {tour.name} | `<pid>.json` at the permission prompt |"
    )
    with_usage = next(raw for _, raw in tour.statuslines if b'"current_usage":{' in raw)
    save(out / "statusline-1.json", tour.scrub(with_usage.decode()))
    rows.append(f"| `statusline-1.json` | {tour.name} | status-line stdin after the first reply |")
    (out / "README.md").write_text(readme(captures, rows), encoding="utf-8")


def save(path: Path, text: str) -> None:
    """Write one JSON document pretty-printed (key order kept)."""
    path.write_text(json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n", "utf-8")


def summary(doc: dict[str, Any]) -> str:
    """Return a short description of a hook payload for the README table."""
    parts = [str(doc.get("hook_event_name"))]
    for key in ("source", "reason", "trigger", "notification_type", "tool_name", "agent_type"):
        if key in doc:
            parts.append(f"{key}={doc[key]!r}")
    if "agent_id" in doc and "agent_type" not in doc:
        parts.append("agent_id")
    return ", ".join(parts)


def readme(captures: list[Capture], rows: list[str]) -> str:
    """Return the README.md text for the captured fixtures."""
    version = claude_code_version()
    lines = [
        f"# Real Claude Code {version} payloads, captured offline",
        "",
        f"Claude Code {version} (npm `@anthropic-ai/claude-code`, native linux-x64 binary), run "
        "offline against the project's scripted Messages API (`tests/real_client/`) on "
        f"{dt.date.today().isoformat()} with `python -m tests.real_client.capture_fixtures`.",
        "Every hook event Claude Code lists (except WorktreeCreate/WorktreeRemove/FileChanged) and "
        "the status line ran `tests/real_client/hook_logger.py`, which saved stdin verbatim; a "
        "thread polled `$CLAUDE_CONFIG_DIR/sessions/` every 10 ms for the registry file.",
        "",
        "Changes to the data, and nothing else: pretty-printed (Claude Code sends one compact "
        "line; key order kept); the temporary home replaced by `/home/user` everywhere, so the "
        f"working directory reads `{FAKE_WORK}` and the encoded project dir in transcript paths "
        "`-home-user-work-demo`. Session ids, agent ids, pids and times are as captured. The "
        "environment had `CLAUDE_CONFIG_DIR=/home/user/.claude` and "
        "`XDG_RUNTIME_DIR=/home/user/.run`.",
        "",
        "Scenarios (JSON in `tests/real_client/scenarios/`):",
        "",
    ]
    lines += [f"* **{c.name}**: {c.how}." for c in captures]
    lines += ["", "## Files", "", "| File | Scenario | What |", "| --- | --- | --- |", *rows, ""]
    lines += ["## Hook sequences", ""]
    for cap in captures:
        start = cap.marks[cap.keep_from][0] if cap.keep_from else 0.0
        seq = [e for t, e, _ in cap.hooks if t >= start]
        lines.append(f"* **{cap.name}**: " + " → ".join(seq))
    lines += ["", "## Observations", "", *NOTES, "", "## Registry status sequences", ""]
    lines += [f"* **{cap.name}**: {status_sequence(cap)}" for cap in captures]
    lines += [
        "",
        "## Timelines",
        "",
        "Seconds from the first event. *Italics* are the harness's own actions. Hook times are "
        "when the logger wrote its file, i.e. later than Claude Code started the hook by the "
        "Python start-up (~30–60 ms); hooks fired together may appear in either order. "
        "Registry status times are the file's own `statusUpdatedAt` (Claude Code's clock, ms); "
        "the first write and the deletion are when the 10 ms poll saw them. Status-line runs "
        "are left out of the hook sequences above.",
        "",
    ]
    for cap in captures:
        events = timeline(cap)
        origin = min(t for t, _ in events)
        lines += [f"### {cap.name}", "", "```"]
        lines += [f"{t - origin:7.3f}  {what}" for t, what in events]
        lines += ["```", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run every scenario and write the fixtures; return the exit status."""
    default = Path(__file__).parents[1] / "fixtures" / "claude-code"
    out = Path(argv[1]) if len(argv) > 1 else default / f"real-{claude_code_version()}"
    captures = [
        capture_print(),
        capture_interactive(background=False),
        capture_interactive(background=True),
        capture_deny_interrupt(),
    ]
    write_fixtures(captures, out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
