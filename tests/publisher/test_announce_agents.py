"""`publish --announce` end to end: real agents, a real aggregator, a real git repository.

Host ``far`` runs a session in the repository (through its own agent, the broker and the
aggregator); host ``near`` runs an agent with ``SESSIONBEAT_ANNOUNCE=true`` reading that
aggregator's API. A new session starting on ``near`` in the same repository is told about the
others; nothing is printed in every other case, and the event is delivered all the same.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.publisher.announce import HEADER
from tests.conftest import git, real_hook, short_tmpdir
from tests.procs import SCRIPT, Agent, Aggregator, wait_until

FAR_SID = "615f9e33-ee3d-4dbe-8df4-a930c0ccd197"  # the interactive capture's session
NEAR_OLD_SID = "0b5da5c8-cd04-4c31-bd13-8f53a65dd1a8"  # the print capture's session
NEW_SID = "54c637ab-df38-4ab3-924a-ce4591c1817f"  # a third capture's session
STARTED = re.compile(r"started (\d+ s|\d+ min) ago")


def home_env(root: Path) -> dict[str, str]:
    """HOME, XDG dirs, the config file and no autostart, all under ``root``.

    The module's processes start before the autouse ``isolated_env`` applies; tests never
    touch the real home.
    """
    home = root / "home"
    (home / ".claude").mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "SESSIONBEAT_CONFIG": str(root / "config.toml"),
        "SESSIONBEAT_AGENT_AUTOSTART": "0",
    }


def publish(agent: Agent, body: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `sessionbeat publish [args]` with ``agent``'s environment."""
    return subprocess.run(
        [SCRIPT, "publish", *args], input=body, env=agent.env, capture_output=True, timeout=30
    )


def status(agent: Agent) -> dict[str, Any]:
    """The agent's status file ({} until it is written)."""
    path = agent.state_dir / "agent-status.json"
    return json.loads(path.read_text()) if path.exists() else {}


def sessions_of(agent: Agent) -> set[str]:
    """The session ids the agent's status file lists."""
    return {s["session_id"] for s in status(agent).get("sessions", [])}


@dataclass
class World:
    """The running parts: the repository's two checkouts, the aggregator and both agents."""

    repo: Path
    feature: Path
    aggregator: Aggregator
    far: Agent
    near: Agent


@pytest.fixture(scope="module")
def world(broker: LocalBroker) -> Iterator[World]:
    """Repo ``shop`` (main, and a worktree on ``feature``); far works in it; near announces."""
    root = short_tmpdir("sb-ann-")
    repo = root / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    feature = root / "shop-feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(feature))
    home = home_env(root)
    aggregator = Aggregator(broker.url, root / "agg", **home)
    far = Agent(broker.url, root / "far", "far", **home)
    near = None
    try:
        for name in ("hook-SessionStart-2.json", "hook-UserPromptSubmit-2.json"):
            assert publish(far, real_hook(name, FAR_SID, repo)).returncode == 0
        assert publish(far, real_hook("hook-PreToolUse-2.json", FAR_SID, repo)).returncode == 0
        wait_until(
            lambda: aggregator.sessions(host="far").get(FAR_SID, {}).get("tool") == "Bash",
            20,
            what="far's session working with Bash in the aggregator",
        )
        near = Agent(
            broker.url,
            root / "near",
            "near",
            SESSIONBEAT_ANNOUNCE="true",
            SESSIONBEAT_API_URL=aggregator.url,
            **home,
        )
        body = real_hook("hook-SessionStart-1.json", NEAR_OLD_SID, feature)
        assert publish(near, body).stdout == b""  # not announcing: a plain hook
        wait_until(
            lambda: (
                status(near).get("announce", {}).get("remote_sessions")
                and NEAR_OLD_SID in sessions_of(near)
            ),
            20,
            what="near's agent has read the API and holds its own older session",
        )
        yield World(repo, feature, aggregator, far, near)
    finally:
        if near is not None:
            near.stop()
        far.stop()
        aggregator.stop()


def test_a_new_session_is_told_who_else_works_on_its_repo(world: World) -> None:
    """Stdout is exactly Claude Code's SessionStart JSON naming far's and near's other session."""
    result = publish(
        world.near, real_hook("hook-SessionStart-4.json", NEW_SID, world.repo), "--announce"
    )
    assert (result.returncode, result.stderr) == (0, b"")
    context = json.loads(result.stdout)["hookSpecificOutput"]["additionalContext"]
    ages = STARTED.findall(context)
    assert len(ages) == 2, context
    expected_lines = [
        HEADER,
        f"- far · shop (main, same branch) · working · Bash · started {ages[0]} ago",
        f"- near · shop (feature) · waiting for input · started {ages[1]} ago",
    ]
    expected = {
        "hookSpecificOutput": {
            "hookEventName": "SessionStart",
            "additionalContext": "\n".join(expected_lines),
        }
    }
    assert result.stdout == json.dumps(expected).encode() + b"\n"
    wait_until(lambda: NEW_SID in sessions_of(world.near), 15, what="the event delivered")


def test_without_announce_the_hook_prints_nothing(world: World) -> None:
    """The same SessionStart through plain `publish` prints nothing and is delivered."""
    sid = "11111111-2222-4333-8444-555555555555"
    result = publish(world.near, real_hook("hook-SessionStart-4.json", sid, world.repo))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    wait_until(lambda: sid in sessions_of(world.near), 15, what="the event delivered")


def test_other_events_print_nothing_even_with_announce(world: World) -> None:
    """`publish --announce` for a UserPromptSubmit prints nothing (only SessionStart speaks)."""
    body = real_hook("hook-UserPromptSubmit-2.json", NEW_SID, world.repo)
    result = publish(world.near, body, "--announce")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


def test_a_repo_no_one_else_works_on_gets_nothing(world: World, tmp_path: Path) -> None:
    """A session starting in another repository is told nothing."""
    other = tmp_path / "elsewhere"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    sid = "22222222-2222-4333-8444-555555555555"
    body = real_hook("hook-SessionStart-4.json", sid, other)
    result = publish(world.near, body, "--announce")
    assert (result.returncode, result.stdout) == (0, b"")


def test_an_agent_with_announce_off_answers_nothing(world: World) -> None:
    """Far's agent (announce off) takes the SA1 frame, delivers it, and the hook prints nothing."""
    sid = "33333333-2222-4333-8444-555555555555"
    body = real_hook("hook-SessionStart-4.json", sid, world.repo)
    result = publish(world.far, body, "--announce")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
    wait_until(lambda: sid in world.aggregator.sessions(host="far"), 15, what="delivered")
    assert not (world.far.state_dir / "inbox").exists()


def test_aggregator_down_means_nothing_said(broker: LocalBroker, tmp_path: Path) -> None:
    """With no API to read, the hook prints nothing, exits 0, and the event still arrives."""
    root = short_tmpdir("sb-ann-down-")
    repo = root / "shop"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    dead = f"http://127.0.0.1:{free_port()}"
    agent = Agent(
        broker.url, root / "lone", "lone", SESSIONBEAT_ANNOUNCE="true", SESSIONBEAT_API_URL=dead
    )  # started inside the test: the isolated home applies
    try:
        first = publish(agent, real_hook("hook-SessionStart-2.json", FAR_SID, repo))
        assert first.stdout == b""
        wait_until(
            lambda: status(agent).get("announce", {}).get("error"), 20, what="the failed read"
        )
        result = publish(agent, real_hook("hook-SessionStart-4.json", NEW_SID, repo), "--announce")
        assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
        wait_until(lambda: NEW_SID in sessions_of(agent), 15, what="the event delivered")
        wait_until(  # the SessionStart asked for a read at once: a second failure
            lambda: status(agent)["announce"]["failures"] >= 2, 20, what="a second failed read"
        )
    finally:
        agent.stop()
    assert agent.output().count("announce: cannot read") == 1  # logged once per streak
