"""The README stays true: settings, metrics, commands, hook snippet and quick start."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import typer

from sessionbeat.claude_code.events import INSTALLED_EVENTS
from sessionbeat.claude_code.settings_file import add_hooks
from sessionbeat.cli import app
from sessionbeat.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    """Each Settings field has a row in the README's settings table."""
    for name in Settings.model_fields:
        assert f"| `SESSIONBEAT_{name.upper()}` |" in README, name


def test_every_metric_is_in_the_readme_table() -> None:
    """Every metric of docs/metrics.md (kept in sync with the collector) is in the README."""
    doc = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    metrics = set(re.findall(r"^\| `(sessionbeat_[a-z_]+)` \|", doc, re.MULTILINE))
    assert metrics
    for metric in metrics:
        assert f"| `{metric}` |" in README, metric


def test_every_command_is_documented() -> None:
    """Each top-level command of the CLI appears in the README's command table."""
    names = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert len(names) >= 12
    for name in names:
        assert f"`sessionbeat {name}" in README, name


def test_hook_snippet_is_what_install_writes() -> None:
    """The settings.json snippet in the README matches `hooks install` exactly."""
    snippet = json.loads(README.split("```json\n", 1)[1].split("```", 1)[0])
    script = "/home/kai/sessionbeat/.venv/bin/sessionbeat"
    written = add_hooks({}, script)["hooks"]
    for event, groups in snippet["hooks"].items():
        assert groups == written[event], event
    listed = README.split("for SessionStart,", 1)[1].split("(`async`", 1)[0]
    assert all(event in "SessionStart " + listed for event in INSTALLED_EVENTS)


def test_quick_start_commands_exist() -> None:
    """The two quick-start commands are executable scripts, and CI runs the test one."""
    for script in ("scripts/up", "scripts/test"):
        assert f"./{script}" in README
        assert os.access(ROOT / script, os.X_OK), script
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_apt_waits_for_its_lock() -> None:
    """Every apt-get that installs or updates in the scripts waits for apt's lock (120 s)."""
    calls = [
        line
        for script in sorted((ROOT / "scripts").iterdir())
        for line in script.read_text().splitlines()
        if "apt-get" in line and any(v in line.split() for v in ("update", "install"))
    ]
    assert calls
    for line in calls:
        assert "-o DPkg::Lock::Timeout=120" in line, line


def test_nothing_points_at_files_a_clone_does_not_have() -> None:
    """Code, tests and docs cite docs/architecture.md, never the old design file or shared/."""
    suffixes = {".py", ".md", ".toml", ".yml", ".yaml", ".json", ".cfg"}
    offenders = []
    for folder in ("src", "tests", "docs", "bench", "scripts", "prometheus", "grafana"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in suffixes and "fixtures" not in path.parts and path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                if "DESIGN" + ".md" in text or "../" + "shared" in text:
                    offenders.append(str(path.relative_to(ROOT)))
    for name in ("README.md", "CONTRIBUTING.md"):
        if "DESIGN" + ".md" in (ROOT / name).read_text(encoding="utf-8"):
            offenders.append(name)
    assert offenders == []
