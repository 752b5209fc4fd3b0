"""Tools the tests take from the machine: a missing one skips a test, or fails it on CI.

By hand a test whose tool is missing is skipped (``./scripts/test`` names the skips in its last
line). With ``SESSIONBEAT_REQUIRE_TOOLS=1`` (set by ``.ci/run``) it fails instead, naming the
tool and how to install it, so a machine without them cannot go green.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections import Counter
from types import ModuleType
from typing import NoReturn

import pytest

REQUIRE_TOOLS = "SESSIONBEAT_REQUIRE_TOOLS"
"""Set to ``1`` to make a missing tool fail the test instead of skipping it."""

MISSING = "missing tool: "
"""How every skip reason for a missing tool starts (the skip summary in conftest.py counts them)."""

INSTALL = {
    "prometheus": "sudo apt-get install prometheus, as ./scripts/bootstrap does",
    "promtool": "sudo apt-get install prometheus, as ./scripts/bootstrap does",
    "mosquitto_passwd": "sudo apt-get install mosquitto, as ./scripts/bootstrap does",
    "chromium": "sudo apt-get install chromium, as ./scripts/bootstrap does",
    "uv": (
        "python3 -m pip install --user uv, as ./scripts/bootstrap does, and put ~/.local/bin "
        "on PATH, as ./scripts/test does"
    ),
    "postgresql": "sudo apt-get install postgresql, as ./scripts/bootstrap does",
    "playwright": "uv pip install -p .venv/bin/python -e '.[dev]', as ./scripts/bootstrap does",
}
"""How to install each tool, as the failure message says it."""


def tools_required() -> bool:
    """Return True when a missing tool must fail the test (``SESSIONBEAT_REQUIRE_TOOLS=1``)."""
    return os.environ.get(REQUIRE_TOOLS) == "1"


def missing(name: str, install_hint: str | None = None) -> NoReturn:
    """Skip the running test for want of ``name``, or fail it when tools are required."""
    hint = install_hint or INSTALL.get(name, "see CONTRIBUTING.md")
    reason = f"{MISSING}{name}; install it with {hint}"
    if tools_required():
        pytest.fail(f"{reason}; {REQUIRE_TOOLS}=1 makes a missing tool a failure", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, install_hint: str | None = None) -> str:
    """Return the path of the executable ``name`` on PATH; skip or fail the test without it."""
    path = shutil.which(name)
    if path is None:
        missing(name, install_hint)
    return path


def require_module(name: str, tool: str, install_hint: str | None = None) -> ModuleType:
    """Import and return the Python module ``name`` (part of ``tool``); skip or fail without it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(tool, install_hint)


def skip_summary(reasons: list[str]) -> str:
    """Return the one line naming the skipped tests by reason ("" when nothing was skipped).

    Skips for a missing tool are counted by tool and flagged as failures on CI; any other skip
    (a platform condition) is named with its reason.
    """
    tools = Counter(r.removeprefix(MISSING).split(";")[0] for r in reasons if r.startswith(MISSING))
    others = Counter(r for r in reasons if not r.startswith(MISSING))
    parts = []
    if tools:
        parts.append(
            f"{_tests(tools.total())} skipped: {_by_reason(tools, 'not installed')} "
            f"(CI fails on these: {REQUIRE_TOOLS}=1)"
        )
    if others:
        parts.append(f"{_tests(others.total())} skipped: {_by_reason(others)}")
    return "; ".join(parts)


def _tests(n: int) -> str:
    return f"{n} test{'' if n == 1 else 's'}"


def _by_reason(counts: Counter[str], suffix: str = "") -> str:
    return ", ".join(f"{r}{' ' + suffix if suffix else ''} ({n})" for r, n in counts.most_common())
