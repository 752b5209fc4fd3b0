"""The host agent as a real process: started by hooks, over TCP, inspected and stopped."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
from typer.testing import CliRunner

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.cli import app
from sessionbeat.stack.replay import load_payload
from tests.conftest import short_tmpdir
from tests.procs import SCRIPT, Agent, Aggregator, wait_until

FILES = [
    "hook-SessionStart-1.json",
    "hook-UserPromptSubmit-1.json",
    "hook-PreToolUse-1.json",
    "hook-PostToolUse-3.json",
    "hook-Stop-1.json",
]
SID = "7da73774-862d-4897-94a7-ef847ce65033"


def agents_for(state: Path) -> list[psutil.Process]:
    """Running `sessionbeat agent run` processes serving ``state``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmd = proc.info["cmdline"] or []
            env = proc.info["environ"] or {}
        except psutil.Error:
            continue
        if "agent" in cmd and "run" in cmd and env.get("SESSIONBEAT_STATE_DIR") == str(state):
            found.append(proc)
    return found


def test_first_hooks_start_one_agent_and_lose_nothing(broker: LocalBroker) -> None:
    """No agent running: concurrent hooks start exactly one, and every event arrives."""
    root = short_tmpdir()
    state = root / "state"
    aggregator = Aggregator(broker.url, root / "agg")
    env = dict(
        os.environ,
        SESSIONBEAT_BROKER_URL=broker.url,
        SESSIONBEAT_STATE_DIR=str(state),
        SESSIONBEAT_HOST="autostart",
        SESSIONBEAT_AGENT_AUTOSTART="1",
        CLAUDE_CONFIG_DIR=str(root / "claude"),
    )
    try:
        first = subprocess.run(
            [SCRIPT, "publish"],
            input=load_payload(FILES[0]),
            env=env,
            capture_output=True,
            timeout=30,
        )
        assert (first.returncode, first.stdout) == (0, b"")

        def hook(name: str) -> int:
            return subprocess.run(
                [SCRIPT, "publish"],
                input=load_payload(name),
                env=env,
                capture_output=True,
                timeout=30,
            ).returncode

        with ThreadPoolExecutor(3) as pool:  # a burst while the agent is still starting
            assert list(pool.map(hook, FILES[1:4])) == [0, 0, 0]
        assert hook(FILES[4]) == 0  # Stop comes after, as in Claude Code
        view = wait_until(
            lambda: (s := aggregator.sessions(host="autostart").get(SID)) and s["seq"] >= 5 and s,
            30,
        )
        assert view["published_status"] == "waiting_for_input"
        assert len(agents_for(state)) == 1
    finally:
        for proc in agents_for(state):
            proc.terminate()
            proc.wait(10)
        aggregator.stop()


def test_agent_over_loopback_tcp(broker: LocalBroker) -> None:
    """With the TCP transport (Windows' default) hooks reach the agent and the broker."""
    root = short_tmpdir()
    aggregator = Aggregator(broker.url, root / "agg")
    state = root / "agent"
    env = dict(
        os.environ,
        SESSIONBEAT_BROKER_URL=broker.url,
        SESSIONBEAT_STATE_DIR=str(state),
        SESSIONBEAT_HOST="tcp-host",
        SESSIONBEAT_AGENT_TRANSPORT="tcp",
        CLAUDE_CONFIG_DIR=str(root / "claude"),
    )
    agent = subprocess.Popen([SCRIPT, "agent", "run"], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: (state / "agent.tcp").exists(), 20)
        assert not (state / "agent.sock").exists()
        subprocess.run([SCRIPT, "publish"], input=load_payload(FILES[0]), env=env, check=True)
        wait_until(lambda: SID in aggregator.sessions(host="tcp-host"), 15)
        assert not (state / "inbox").exists()
    finally:
        agent.terminate()
        agent.wait(10)
        aggregator.stop()
    assert not (state / "agent.tcp").exists()  # removed on a clean stop


def test_status_and_stop_commands(broker: LocalBroker) -> None:
    """`agent status` reports a connected agent; `agent stop` stops it cleanly (offline)."""
    root = short_tmpdir()
    agent = Agent(broker.url, root / "agent", "status-host")
    runner = CliRunner()
    args = ["--state-dir", str(agent.state_dir)]
    try:
        agent.publish(load_payload(FILES[0]))
        wait_until(
            lambda: (
                json.loads((agent.state_dir / "agent-status.json").read_text()).get("sessions")
                if (agent.state_dir / "agent-status.json").exists()
                else None
            ),
            15,
        )
        result = runner.invoke(app, [*args, "agent", "status", "--json"])
        data = json.loads(result.stdout)
        assert result.exit_code == 0
        assert (data["running"], data["connected"], data["host"]) == (True, True, "status-host")
        result = runner.invoke(app, [*args, "agent", "stop"])
        assert result.exit_code == 0
        assert agent.popen.wait(10) == 0
        result = runner.invoke(app, [*args, "agent", "status"])
        assert result.exit_code == 1
        assert "not running" in result.stdout
    finally:
        agent.stop()
