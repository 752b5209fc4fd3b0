"""``sessionbeat mcp`` end to end on real parts, asked by the MCP SDK's own stdio client.

Real hook payloads (tests/fixtures, session id and cwd replaced) -> ``sessionbeat publish`` ->
two agents (two host ids) -> Mosquitto -> ``sessionbeat aggregator`` -> ``sessionbeat mcp``
started by ``mcp.client.stdio.stdio_client`` as Claude Code starts it: a child process of the
caller. The caller is this test process, whose pid has an entry in a Claude Code session
registry (``<CLAUDE_CONFIG_DIR>/sessions/<pid>.json``) naming one of the live sessions, in a
real git repository.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.mcp_server.caller import Caller
from sessionbeat.mcp_server.queries import Queries
from sessionbeat.readers.client import ApiClient
from tests.conftest import git, real_hook, short_tmpdir
from tests.mcp_server.client import structured, text, with_server
from tests.procs import Agent, Aggregator, wait_until, write_registry_entry

pytestmark = pytest.mark.slow


CLAUDE_VARIABLES = ("CLAUDE_CODE_SESSION_ID", "CLAUDE_PROJECT_DIR")
"""What Claude Code would pass the server; left out unless a test sets them (pytest itself may
run under Claude Code)."""


def server_env(**extra: str) -> dict[str, str]:
    """The test's environment without Claude Code's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in CLAUDE_VARIABLES}
    return {**env, **extra}


def home_env(root: Path) -> dict[str, str]:
    """HOME, XDG dirs and sessionbeat's config file under ``root`` (module-scoped processes)."""
    home = root / "home"
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "SESSIONBEAT_CONFIG": str(root / "config.toml"),
    }


@dataclass
class Live:
    """Live sessions on two hosts, as the module's tests find them."""

    aggregator: Aggregator
    host_a: str
    host_b: str
    repo: Path  # the main checkout, branch main
    feature: Path  # a linked worktree of the same repository, branch feature-x
    other: Path  # another repository
    claude_dir: Path  # the caller's Claude Code config dir
    me: str  # host a, repo on main: the caller
    twin: str  # host b, same directory and branch as the caller
    feat: str  # host a, the feature worktree: same repo, another branch
    elsewhere: str  # host b, the other repository
    done: str  # host b, ended in the repo: in the history

    def env(self, **extra: str) -> dict[str, str]:
        """The environment ``sessionbeat mcp`` runs with (the caller's machine is host a)."""
        own = {
            "SESSIONBEAT_API_URL": self.aggregator.url,
            "SESSIONBEAT_HOST": self.host_a,
            "CLAUDE_CONFIG_DIR": str(self.claude_dir),
        }
        return server_env(**{**own, **extra})

    def ask(self, run: Any, **extra: str) -> Any:
        """Start the server in the caller's directory and return ``run(session)``."""
        log = self.claude_dir.parent / "mcp-stderr.log"
        return with_server(self.env(**extra), self.repo, log, run)


@pytest.fixture(scope="module")
def live(broker: LocalBroker) -> Iterator[Live]:
    """An aggregator fed by two agents with four live sessions and one ended one."""
    root = short_tmpdir("sb-mcp-")
    tag = uuid.uuid4().hex[:6]
    repo = root / f"mcp-app-{tag}"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "first")
    feature = root / "feature-checkout"
    git(repo, "worktree", "add", "-q", "-b", "feature-x", str(feature))
    other = root / f"mcp-other-{tag}"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    env = home_env(root)
    aggregator = Aggregator(broker.url, root / "agg", SESSIONBEAT_ENDED_LINGER="0", **env)
    a = Agent(broker.url, root / "a", f"mcp-a-{tag}", **env)
    b = Agent(broker.url, root / "b", f"mcp-b-{tag}", **env)
    ids = [str(uuid.uuid4()) for _ in range(5)]
    state = Live(aggregator, a.host, b.host, repo, feature, other, root / "claude", *ids)
    try:
        plays = [
            (a, state.me, repo, ["hook-SessionStart-2", "hook-UserPromptSubmit-2"]),
            (b, state.twin, repo, ["hook-SessionStart-2", "hook-PreToolUse-2"]),
            (a, state.feat, feature, ["hook-SessionStart-2", "hook-PermissionRequest-1"]),
            (b, state.elsewhere, other, ["hook-SessionStart-2", "hook-UserPromptSubmit-2"]),
            (b, state.done, repo, ["hook-SessionStart-2", "hook-SessionEnd-2"]),
        ]
        for agent, sid, cwd, names in plays:
            for name in names:
                assert agent.publish(real_hook(name, sid, cwd)).returncode == 0
        expected = {state.me, state.twin, state.feat, state.elsewhere}
        wait_until(
            lambda: expected <= {s["session_id"] for s in aggregator.get("/sessions")},
            20,
            what="the four live sessions",
        )
        wait_until(
            lambda: aggregator.get("/history", repo=repo.name)["total"] == 1,
            20,
            what="the ended session in the history",
        )
        sessions = state.claude_dir / "sessions"
        sessions.mkdir(parents=True)
        # This process starts the MCP server: it stands for the caller's Claude Code.
        write_registry_entry(
            sessions / f"{os.getpid()}.json", os.getpid(), state.me, "busy", cwd=str(repo)
        )
        yield state
    finally:
        a.stop()
        b.stop()
        aggregator.stop()


def test_the_four_tools_are_listed_with_their_schemas(live: Live) -> None:
    """An MCP host sees active_sessions, who_else_is_here, session and recent_sessions."""

    async def run(session: ClientSession) -> Any:
        return (await session.list_tools()).tools

    tools = {t.name: t for t in live.ask(run)}
    assert set(tools) == {"active_sessions", "who_else_is_here", "session", "recent_sessions"}
    for tool in tools.values():
        assert tool.inputSchema["type"] == "object"
        assert tool.outputSchema is not None and "summary" in tool.outputSchema["properties"]
        assert tool.description and tool.annotations and tool.annotations.readOnlyHint
    assert set(tools["active_sessions"].inputSchema["properties"]) == {
        "repo",
        "host",
        "branch",
        "include_self",
    }
    assert tools["session"].inputSchema["required"] == ["session_id"]


def test_active_sessions_leave_out_the_caller_unless_asked(live: Live) -> None:
    """The calling session is recognised from Claude Code's registry and left out by default."""

    async def run(session: ClientSession) -> Any:
        return (
            await session.call_tool("active_sessions", {}),
            await session.call_tool("active_sessions", {"include_self": True}),
            await session.call_tool("active_sessions", {"repo": live.other.name}),
            await session.call_tool("active_sessions", {"host": live.host_a, "branch": "main"}),
        )

    default, with_self, other_repo, host_branch = (structured(r) for r in live.ask(run))
    assert default["caller"] == {
        "session_id": live.me,
        "host": live.host_a,
        "cwd": str(live.repo),
        "repo": live.repo.name,
        "branch": "main",
        "source": "registry",
        "note": None,
    }
    ids = {s["session_id"] for s in default["sessions"]}
    assert {live.twin, live.feat, live.elsewhere} <= ids
    assert live.me not in ids and live.done not in ids
    mine = [s for s in with_self["sessions"] if s["session_id"] == live.me]
    assert [s["is_caller"] for s in mine] == [True]
    assert mine[0]["status"] == "working" and mine[0]["host"] == live.host_a
    assert [s["session_id"] for s in other_repo["sessions"]] == [live.elsewhere]
    assert other_repo["summary"] == f"1 other live session (repo {live.other.name}): 1 working."
    assert host_branch["sessions"] == []
    assert host_branch["summary"] == f"No other live session (host {live.host_a}, branch main)."


def test_who_else_is_here_finds_the_other_host_on_the_same_repo(live: Live) -> None:
    """The twin on host b (same branch and folder) and the feature worktree are named."""

    async def run(session: ClientSession) -> Any:
        return await session.call_tool("who_else_is_here", {})

    result = live.ask(run)
    data = structured(result)
    peers = {s["session_id"]: s for s in data["sessions"]}
    assert set(peers) == {live.twin, live.feat}
    twin, feat = peers[live.twin], peers[live.feat]
    assert (twin["host"], twin["same_branch"], twin["same_cwd"]) == (live.host_b, True, True)
    assert (twin["status"], twin["tool"]) == ("working", "Bash")
    assert (feat["branch"], feat["same_branch"], feat["same_cwd"]) == ("feature-x", False, False)
    assert feat["status"] == "needs_approval"
    assert data["repo"] == live.repo.name
    assert data["summary"].startswith(f"2 other sessions work on {live.repo.name}: {live.host_b}")
    assert "same branch main, same folder, working (Bash)" in data["summary"]
    assert "branch feature-x, needs approval (Bash)" in data["summary"]
    assert f"You: {live.me} on {live.host_a}" in text(result)


def test_session_shows_live_and_ended_sessions_and_names_an_unknown_id(live: Live) -> None:
    """A live session's timeline, an ended one from the history, a clear error otherwise."""

    async def run(session: ClientSession) -> Any:
        return (
            await session.call_tool("session", {"session_id": live.feat}),
            await session.call_tool("session", {"session_id": live.done}),
            await session.call_tool("session", {"session_id": "no-such-session"}),
        )

    feat, done, unknown = live.ask(run)
    data = structured(feat)
    assert data["source"] == "live"
    assert data["session"]["branch"] == "feature-x" and data["session"]["tool"] == "Bash"
    assert data["timeline"][-1]["status"] == "needs_approval"
    assert data["summary"].startswith(f"{live.feat} on {live.host_a}: needs approval (Bash) in")
    ended = structured(done)
    assert ended["source"] == "history"
    assert ended["session"]["end_reason"] == "prompt_input_exit"
    assert unknown.isError
    assert "no live or recent session 'no-such-session'" in text(unknown)


def test_recent_sessions_lists_the_ended_session(live: Live) -> None:
    """The session that ended in the repo comes from the history; a bad since is an error."""

    async def run(session: ClientSession) -> Any:
        return (
            await session.call_tool("recent_sessions", {"repo": live.repo.name}),
            await session.call_tool("recent_sessions", {"repo": live.repo.name, "since": "1h"}),
            await session.call_tool("recent_sessions", {"since": "last tuesday"}),
        )

    by_repo, since, bad = live.ask(run)
    data = structured(by_repo)
    assert [s["session_id"] for s in data["sessions"]] == [live.done]
    assert data["sessions"][0]["end_reason"] == "prompt_input_exit"
    assert data["total"] == 1
    assert [s["session_id"] for s in structured(since)["sessions"]] == [live.done]
    assert bad.isError
    assert "cannot read 'last tuesday' as a time" in text(bad)


def test_the_caller_is_known_from_claude_codes_variable_without_a_registry(
    live: Live, tmp_path: Path
) -> None:
    """With no registry entry, CLAUDE_CODE_SESSION_ID (as Claude Code sets it) names the caller."""

    async def run(session: ClientSession) -> Any:
        return await session.call_tool("who_else_is_here", {})

    data = structured(
        live.ask(run, CLAUDE_CONFIG_DIR=str(tmp_path), CLAUDE_CODE_SESSION_ID=live.me)
    )
    assert (data["caller"]["source"], data["caller"]["session_id"]) == ("env", live.me)
    assert {s["session_id"] for s in data["sessions"]} == {live.twin, live.feat}


def test_the_aggregator_down_is_a_clear_tool_error_and_the_server_stays_up(
    broker: LocalBroker,
) -> None:
    """Stop the aggregator mid-conversation: each call names the API URL; none kills the server."""
    root = short_tmpdir("sb-mcp-down-")
    aggregator = Aggregator(broker.url, root / "agg", **home_env(root))
    env = server_env(SESSIONBEAT_API_URL=aggregator.url)

    async def run(session: ClientSession) -> Any:
        before = await session.call_tool("active_sessions", {})
        aggregator.stop()
        return (
            before,
            await session.call_tool("who_else_is_here", {}),
            await session.call_tool("active_sessions", {}),
            (await session.list_tools()).tools,
        )

    try:
        before, first, second, tools = with_server(env, root, root / "mcp.log", run)
    finally:
        aggregator.stop()
    assert structured(before)["caller"]["source"] == "cwd"
    for result in (first, second):
        assert result.isError
        assert f"cannot reach the aggregator at {aggregator.url}/sessions" in text(result)
        assert "is the aggregator running" in text(result)
    assert len(tools) == 4


def test_a_caller_known_by_its_directory_is_matched_to_its_live_session(
    live: Live, tmp_path: Path
) -> None:
    """Directory only (no registry, no variable): the one session of this host there is it."""

    def in_feature_checkout(_config: Path) -> Caller:
        return Caller(None, str(live.feature), live.repo.name, "feature-x", "cwd")

    with ApiClient(live.aggregator.url) as api:
        queries = Queries(api, live.host_a, tmp_path, identify=in_feature_checkout)
        result = queries.who_else_is_here()
    assert (result.caller.session_id, result.caller.source) == (live.feat, "cwd")
    assert {s.session_id for s in result.sessions} == {live.me, live.twin}
    assert not any(s.same_branch for s in result.sessions)
