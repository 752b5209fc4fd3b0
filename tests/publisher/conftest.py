"""Fixtures of the host-side tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest


@pytest.fixture
def claude_process() -> Iterator[subprocess.Popen[bytes]]:
    """A real long-running process standing in for Claude Code (killed afterwards)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
