"""Fixtures for tests that run the real Claude Code CLI against the scripted Messages API."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.real_client.install import ensure_claude
from tests.real_client.messages_api import MessagesAPI, Scenario


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned ``claude`` executable, installed once into the test cache (fails without npm)."""
    try:
        return ensure_claude()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def messages_api() -> Iterator[Callable[[Scenario | str], MessagesAPI]]:
    """Factory: start a scripted Messages API for a scenario (name or object); all stopped after."""
    started: list[MessagesAPI] = []

    def start(scenario: Scenario | str) -> MessagesAPI:
        api = MessagesAPI(scenario).start()
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


@pytest.fixture
def claude_home() -> Path:
    """The test's temporary HOME (set by the autouse ``isolated_env``); never the real one."""
    home = Path(os.environ["HOME"])
    real = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert home.resolve() != real.resolve(), f"HOME is the real home {real}"
    assert Path(os.environ["CLAUDE_CONFIG_DIR"]).resolve().is_relative_to(home.resolve())
    return home


@pytest.fixture
def workdir(claude_home: Path) -> Path:
    """An empty project directory inside the temporary home (``~/work/demo``)."""
    path = claude_home / "work" / "demo"
    path.mkdir(parents=True)
    return path
