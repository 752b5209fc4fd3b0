"""The hook-event catalog (claude_code/events.py): one list of names, sets derived from it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from sessionbeat.claude_code.events import (
    ACTIVITY_EVENTS,
    DOCUMENTED_EVENTS,
    INSTALLED_EVENTS,
    STATUS_EVENTS,
    SYNC_EVENTS,
    HookEvent,
)
from sessionbeat.claude_code.settings_file import add_hooks

FORMATS = Path(__file__).resolve().parents[2] / "docs" / "claude-code-formats.md"


def _documented_names() -> set[str]:
    """Return the event names in the first column of docs/claude-code-formats.md section 1.1."""
    section = FORMATS.read_text(encoding="utf-8").split("### 1.1", 1)[1].split("### 1.2", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Za-z]+)`", line.split("|")[1]))
    return names


def test_catalog_is_the_documented_event_list() -> None:
    """Every event the formats reference lists is in the catalog, and nothing else is."""
    assert {str(e) for e in DOCUMENTED_EVENTS} == _documented_names()


def test_installed_events_are_the_status_and_activity_events_in_documented_order() -> None:
    """`hooks install` registers exactly the events that set a status or carry tasks/cwd."""
    assert set(INSTALLED_EVENTS) == STATUS_EVENTS | ACTIVITY_EVENTS
    assert list(INSTALLED_EVENTS) == [e for e in HookEvent if e in INSTALLED_EVENTS]
    assert not STATUS_EVENTS & ACTIVITY_EVENTS


def test_streaming_and_batch_events_are_not_installed() -> None:
    """No hook process per streamed line (MessageDisplay) or per tool batch (PostToolBatch)."""
    assert "MessageDisplay" not in INSTALLED_EVENTS
    assert "PostToolBatch" not in INSTALLED_EVENTS
    assert set(INSTALLED_EVENTS) <= DOCUMENTED_EVENTS


def test_only_session_end_runs_synchronously() -> None:
    """The settings file gets one synchronous handler: SessionEnd's, so a -p run keeps it."""
    assert {"SessionEnd"} == SYNC_EVENTS
    hooks = add_hooks({}, "/venv/bin/sessionbeat")["hooks"]
    sync = {event for event, groups in hooks.items() if "async" not in groups[0]["hooks"][0]}
    assert sync == {"SessionEnd"}


def test_names_read_from_json_match_and_settings_json_holds_plain_names() -> None:
    """A name parsed from a hook payload is found in the sets; settings.json gets plain keys."""
    payload = json.loads('{"hook_event_name": "PermissionRequest"}')
    assert payload["hook_event_name"] in STATUS_EVENTS
    written = json.loads(json.dumps(add_hooks({}, "/venv/bin/sessionbeat")))
    assert list(written["hooks"]) == [str(e) for e in INSTALLED_EVENTS]
    assert all(type(name) is str for name in add_hooks({}, "/venv/bin/sessionbeat")["hooks"])


def test_catalog_imports_only_the_standard_library() -> None:
    """The catalog stays usable from the hook's fast path: no pydantic, typer or paho import."""
    code = (
        "import sys, sessionbeat.claude_code.events; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'typer', 'paho'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
