"""MCP servers under the real Claude Code CLI (2.1.328, pinned in package.json).

What Claude Code gives the MCP servers it starts, measured with a probe server
(``mcp_probe.py``, the official ``mcp`` SDK) registered with the real ``claude mcp add``; that
sessionbeat's ``hooks install --mcp`` registers its server the way Claude Code reads it; that
a running Claude Code keeps that registration when it saves its own state; and, end to end,
that Claude Code offers sessionbeat's tools and that ``who_else_is_here`` names the other live
session on the repository (a real agent, Mosquitto and aggregator, and a real git repository).
The findings are in docs/claude-code-formats.md ("MCP servers: what Claude Code passes").
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.conftest import load_fixture, short_tmpdir
from tests.procs import SCRIPT, wait_until
from tests.real_client import mcp_probe
from tests.real_client.driver import TmuxClaude, claude_env, config_dir_of, run_print, seed_home
from tests.real_client.live import LiveStack
from tests.real_client.messages_api import MessagesAPI, Scenario

pytestmark = pytest.mark.slow

Factory = Callable[[Scenario | str], MessagesAPI]

PROBE_CALL = Scenario.from_dict(
    {
        "description": "A new conversation calls the probe's tool, then ends the turn.",
        "replies": [
            {
                "name": "call",
                "when": {"assistant_messages": 0},
                "content": [
                    {"type": "text", "text": "Calling the probe."},
                    {"type": "tool_use", "name": "mcp__probe__probe", "input": {}},
                ],
            },
            {
                "name": "done",
                "when": {"assistant_messages": 1},
                "content": [{"type": "text", "text": "Probe done."}],
            },
        ],
    },
    name="probe_call",
)


def offline_env(home: Path, api: MessagesAPI) -> dict[str, str]:
    """Claude Code's environment for these tests: MCP tools sent in full (no tool search)."""
    return claude_env(home, api.url, {"ENABLE_TOOL_SEARCH": "false"})


def add_probe(claude: Path, env: dict[str, str], out: Path) -> None:
    """Register the probe with the real ``claude mcp add -s user``; check what it wrote."""
    probe = str(Path(mcp_probe.__file__).resolve())
    result = subprocess.run(
        [str(claude), "mcp", "add", "-s", "user", "probe", "--", sys.executable, probe, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    written = json.loads((config_dir_of(env) / ".claude.json").read_text())
    assert written["mcpServers"]["probe"] == {
        "type": "stdio",
        "command": sys.executable,
        "args": [probe, str(out)],
        "env": {},
    }


def probe_records(out: Path, kind: str) -> list[dict[str, Any]]:
    """The probe's ``<pid>-start.json`` (kind ``start``) or ``<pid>-call-<n>.json`` files."""
    pattern = "*-start.json" if kind == "start" else "*-call-*.json"
    files = sorted(out.glob(pattern), key=lambda p: p.stat().st_mtime)
    return [json.loads(f.read_text()) for f in files]


def tool_results(api: MessagesAPI) -> list[Any]:
    """The ``tool_result`` contents of the last user message of each request, in order."""
    found = []
    for request in api.requests:
        last = (request.body or {}).get("messages", [{}])[-1]
        content = last.get("content")
        for block in content if isinstance(content, list) else []:
            if block.get("type") == "tool_result":
                found.append(block["content"])
    return found


def test_an_mcp_server_is_a_child_of_the_claude_whose_registry_names_the_session(
    claude_bin: Path, messages_api: Factory, claude_home: Path, workdir: Path
) -> None:
    """`claude -p`: the server's parent is claude, whose registry file names the session."""
    api = messages_api(PROBE_CALL)
    env = offline_env(claude_home, api)
    out = claude_home / "probe"
    add_probe(claude_bin, env, out)
    result = run_print(
        claude_bin, "probe it", workdir, env, ["--allowedTools", "mcp__probe__probe"]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Probe done."
    (start,) = probe_records(out, "start")
    (registry,) = start["registry_at_start"]  # written before the server started
    sid = registry["sessionId"]
    assert start["ppid"] == start["parents"][0]["pid"] == registry["pid"]
    assert start["parents"][0]["name"] == "claude"
    assert start["cwd"] == registry["cwd"] == str(workdir.resolve())
    values = start["env_values"]
    assert values["CLAUDE_CODE_SESSION_ID"] == sid
    assert values["CLAUDE_PROJECT_DIR"] == str(workdir.resolve())
    assert values["CLAUDE_CONFIG_DIR"] == str(config_dir_of(env))
    assert (values["CLAUDECODE"], values["CLAUDE_CODE_ENTRYPOINT"]) == ("1", "sdk-cli")
    assert next((config_dir_of(env) / "projects").rglob(f"{sid}.jsonl"))  # the session's own
    # The tool is offered by name with its schema, called, and its result sent back.
    tools = {t["name"]: t for t in (api.requests[0].body or {})["tools"]}
    assert tools["mcp__probe__probe"]["input_schema"]["type"] == "object"
    (call,) = probe_records(out, "call")
    assert call["client"]["clientInfo"]["name"] == "claude-code"
    assert call["meta"]["claudecode/toolUseId"].startswith("toolu_")
    assert tool_results(api) == [
        json.dumps({"result": f"probe {start['pid']}"}, separators=(",", ":"))
    ]


def test_after_clear_the_registry_has_the_new_session_and_the_env_the_old(
    claude_bin: Path, messages_api: Factory, claude_home: Path, workdir: Path
) -> None:
    """Interactive: /clear keeps the same server; only the registry names the new session."""
    api = messages_api(PROBE_CALL)
    env = offline_env(claude_home, api)
    out = claude_home / "probe"
    add_probe(claude_bin, env, out)
    seed_home(claude_home, workdir, config_dir=config_dir_of(env))
    args = ("--permission-mode", "default", "--allowedTools", "mcp__probe")
    with TmuxClaude(claude_bin, workdir, env, args=args) as tui:
        tui.wait_for("❯")
        tui.type_line("probe it")
        tui.wait_for("Probe done.")
        tui.type_line("/clear")
        tui.wait_gone("Probe done.")
        tui.type_line("probe it")
        tui.wait_for("Probe done.")
        claude_pid = tui.pid
    (start,) = probe_records(out, "start")  # one server for both sessions
    first, second = probe_records(out, "call")
    assert start["ppid"] == claude_pid
    assert start["parents"][1]["name"].startswith("tmux")
    assert start["env_values"]["CLAUDE_CODE_ENTRYPOINT"] == "cli"
    assert [c["registry"][0]["pid"] for c in (first, second)] == [claude_pid, claude_pid]
    old, new = first["registry"][0]["sessionId"], second["registry"][0]["sessionId"]
    assert old != new
    assert start["env_values"]["CLAUDE_CODE_SESSION_ID"] == old  # stale after /clear


def test_claude_reads_the_server_hooks_install_registers(
    claude_bin: Path, claude_home: Path, workdir: Path
) -> None:
    """`claude mcp get` shows the entry `hooks install --mcp` wrote, and connects to it."""
    env = claude_env(claude_home, "http://127.0.0.1:9")
    installed = subprocess.run(
        [SCRIPT, "--api-url", "http://127.0.0.1:18787", "hooks", "install", "--mcp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    shown = subprocess.run(
        [str(claude_bin), "mcp", "get", "sessionbeat"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = [line.strip() for line in shown.stdout.splitlines()]
    assert "Scope: User config (available in all your projects)" in lines
    assert {"Type: stdio", f"Command: {SCRIPT}", "Args: mcp"} <= set(lines)
    assert "SESSIONBEAT_API_URL=http://127.0.0.1:18787" in lines
    assert "Status: ✔ Connected" in lines  # its health check started `sessionbeat mcp`


def test_a_running_claude_keeps_the_registration_when_it_saves_its_state(
    claude_bin: Path, messages_api: Factory, claude_home: Path, workdir: Path
) -> None:
    """`hooks install --mcp` while Claude Code runs: both its later saves and our entry stay."""
    api = messages_api("bash_touch")
    env = claude_env(claude_home, api.url)
    seed_home(claude_home, workdir, config_dir=config_dir_of(env))
    path = config_dir_of(env) / ".claude.json"
    with TmuxClaude(claude_bin, workdir, env) as tui:
        tui.wait_for("❯")
        installed = subprocess.run(
            [SCRIPT, "hooks", "install", "--mcp"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr
        ours = json.loads(path.read_text())["mcpServers"]["sessionbeat"]
        tui.type_line("make the file")
        tui.wait_for("Do you want to proceed?")
        tui.answer("Enter")
        tui.wait_for("Done: made made.txt.")
        tui.type_line("/exit")
        project = str(workdir.resolve())
        data = json.loads(_wait_for_key(path, lambda d: "lastSessionId" in d["projects"][project]))
    assert data["mcpServers"]["sessionbeat"] == ours
    assert data["projects"][project]["lastSessionId"]  # Claude Code's save after ours


def _wait_for_key(path: Path, ready: Callable[[dict[str, Any]], bool]) -> str:
    """Wait until the JSON at ``path`` satisfies ``ready``; return its text (hang guard 30 s)."""

    def check() -> str | None:
        text = path.read_text()
        return text if ready(json.loads(text)) else None

    found: str = wait_until(check, 30, what=f"{path} to be saved by Claude Code")
    return found


WHO_ELSE = Scenario.from_dict(
    {
        "description": "Ask sessionbeat who else works on this repository, then end the turn.",
        "replies": [
            {
                "name": "ask",
                "when": {"assistant_messages": 0},
                "content": [
                    {"type": "text", "text": "Checking who else is here."},
                    {"type": "tool_use", "name": "mcp__sessionbeat__who_else_is_here", "input": {}},
                ],
            },
            {
                "name": "answer",
                "when": {"assistant_messages": 1},
                "content": [{"type": "text", "text": "One other session works here."}],
            },
        ],
    },
    name="who_else",
)
TOOLS = {"active_sessions", "who_else_is_here", "session", "recent_sessions"}
"""The tools of ``sessionbeat mcp``."""


@pytest.fixture
def live(broker: LocalBroker, claude_home: Path) -> Iterator[LiveStack]:
    """Sessionbeat's agent and aggregator for this test, hooks installed in the test home."""
    stack = LiveStack(broker, claude_home, short_tmpdir("sb-live-"))
    try:
        yield stack
    finally:
        stack.close()


def git_repo(path: Path) -> Path:
    """Make a real git repository on branch main at ``path``; return its resolved path."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, timeout=30)
    return path.resolve()


def start_other_session(live: LiveStack, cwd: Path) -> str:
    """Publish a real SessionStart and prompt of another session in ``cwd``; return its id.

    The payloads are Claude Code 2.1.328's (tests/fixtures/claude-code/real-2.1.328) with this
    session's id and folder, sent through the real ``sessionbeat publish``.
    """
    sid = str(uuid.uuid4())
    transcript = str(cwd / ".no-transcript" / f"{sid}.jsonl")
    for name in (
        "real-2.1.328/hook-SessionStart-2.json",
        "real-2.1.328/hook-UserPromptSubmit-2.json",
    ):
        payload = {**load_fixture(name), "session_id": sid, "cwd": str(cwd)}
        payload["transcript_path"] = transcript
        result = live.agent.publish(json.dumps(payload).encode())
        assert result.returncode == 0, result.stderr
    wait_until(lambda: sid in live.sessions(), 30, what="the other session in the API")
    return sid


def test_claude_code_asks_sessionbeat_who_else_works_on_the_repository(
    claude_bin: Path, messages_api: Factory, live: LiveStack, claude_home: Path
) -> None:
    """Registered by `hooks install --mcp`, the tools are offered; who_else names the other."""
    repo = git_repo(claude_home / "work" / "shop")
    other = start_other_session(live, repo)
    installed = subprocess.run(
        [SCRIPT, "--api-url", live.aggregator.url, "hooks", "install", "--mcp"],
        env=live.agent.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    api = messages_api(WHO_ELSE)
    env = live.claude_env(api.url, ENABLE_TOOL_SEARCH="false")
    # No --allowedTools: the permission rule `hooks install --mcp` wrote lets the call run.
    result = run_print(claude_bin, "who else is here?", repo, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "One other session works here."
    assert api.chosen() == ["ask", "answer"]
    offered = {t["name"] for t in (api.requests[0].body or {})["tools"]}
    assert {f"mcp__sessionbeat__{tool}" for tool in TOOLS} <= offered
    (content,) = tool_results(api)
    answer = json.loads(content)  # Claude Code passes the structuredContent on as JSON
    me = next(sid for sid in live.sessions() if sid != other)  # this claude's own session
    assert answer["caller"]["session_id"] == me
    assert (answer["caller"]["source"], answer["repo"]) == ("registry", "shop")
    (peer,) = answer["sessions"]
    assert peer["session_id"] == other
    assert (peer["same_branch"], peer["same_cwd"], peer["branch"]) == (True, True, "main")
    assert answer["summary"].startswith(
        f"1 other session works on shop: {live.host} (same branch main, same folder"
    )
