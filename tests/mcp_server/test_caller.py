"""The calling session is recognised without configuration (mcp_server/caller.py).

Real processes and a real git repository: the registry file is written for this test's own pid
(or a child's parent), as Claude Code writes ``<config>/sessions/<pid>.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionbeat.mcp_server.caller import Caller, ancestors, find_caller
from tests.conftest import git
from tests.procs import write_registry_entry

SID = "0b5da5c8-cd04-4c31-bd13-8f53a65dd1a8"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository 'kai-app' checked out on branch feature-x."""
    top = tmp_path / "kai-app"
    top.mkdir()
    git(top, "init", "-q", "-b", "feature-x")
    return top


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An empty Claude Code config dir with its ``sessions/`` registry."""
    (tmp_path / "claude" / "sessions").mkdir(parents=True)
    return tmp_path / "claude"


@pytest.fixture
def child() -> Iterator[int]:
    """A child process of this test (as an MCP server is Claude Code's child)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def register(config: Path, pid: int, cwd: Path, **extra: object) -> None:
    """Write Claude Code's registry entry of process ``pid`` (2.1.328's fields)."""
    write_registry_entry(
        config / "sessions" / f"{pid}.json", pid, SID, "busy", cwd=str(cwd), **extra
    )


def test_the_parent_claude_code_is_found_in_its_registry(
    config: Path, repo: Path, child: int
) -> None:
    """The walk from the server's parent up finds the ancestor's registry entry, repo and branch."""
    register(config, os.getpid(), repo)
    caller = find_caller(config, env={}, start_pid=child, cwd="/elsewhere")
    assert caller == Caller(SID, str(repo), "kai-app", "feature-x", "registry", os.getpid())


def test_the_walk_stops_after_its_levels(config: Path, repo: Path, child: int) -> None:
    """An entry above the levels looked at is not taken (the directory is used instead)."""
    register(config, os.getpid(), repo)
    caller = find_caller(config, env={}, start_pid=child, cwd=str(repo), levels=1)
    assert (caller.source, caller.session_id) == ("cwd", None)
    assert list(ancestors(child, 2)) == [child, os.getpid()]


def test_a_registry_file_of_a_reused_pid_is_ignored(config: Path, repo: Path) -> None:
    """A leftover file whose procStart is not this process's start does not name the caller."""
    register(config, os.getpid(), repo, procStart="1")
    caller = find_caller(config, env={}, start_pid=os.getpid(), cwd=str(repo))
    assert (caller.source, caller.session_id) == ("cwd", None)


def test_a_registry_file_naming_another_pid_is_ignored(config: Path, repo: Path) -> None:
    """``<pid>.json`` must describe that pid: a copy under another name does not count."""
    path = config / "sessions" / f"{os.getpid()}.json"
    write_registry_entry(path, os.getpid() + 1, SID, "busy", cwd=str(repo))
    caller = find_caller(config, env={}, start_pid=os.getpid(), cwd=str(repo))
    assert caller.source == "cwd"


def test_claude_codes_session_variable_names_the_caller(config: Path, repo: Path) -> None:
    """No registry entry: CLAUDE_CODE_SESSION_ID and CLAUDE_PROJECT_DIR as Claude Code sets them."""
    env = {"CLAUDE_CODE_SESSION_ID": SID, "CLAUDE_PROJECT_DIR": str(repo)}
    caller = find_caller(config, env=env, start_pid=os.getpid())
    assert caller == Caller(SID, str(repo), "kai-app", "feature-x", "env")


def test_without_either_the_servers_directory_is_used(
    config: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed variable is ignored; the server's working directory gives repo and branch."""
    monkeypatch.chdir(repo)
    caller = find_caller(config, env={"CLAUDE_CODE_SESSION_ID": "../x"}, start_pid=os.getpid())
    assert caller == Caller(None, str(repo), "kai-app", "feature-x", "cwd")
