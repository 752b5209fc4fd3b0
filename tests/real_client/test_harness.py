"""Tests of the real-client harness itself: installer, scripted API, ``-p`` and tmux drivers."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.real_client.driver import (
    TmuxClaude,
    claude_env,
    config_dir_of,
    marked_processes,
    run_print,
    seed_home,
    wait_for_file,
)
from tests.real_client.install import claude_code_version, ensure_claude
from tests.real_client.messages_api import MessagesAPI, Scenario

Factory = Callable[[Scenario | str], MessagesAPI]
ONLY_FIVE = Scenario.from_dict(
    {"replies": [{"when": {"assistant_messages": 5}, "content": [{"type": "text", "text": "x"}]}]},
    name="only-five",
)


@pytest.mark.slow
def test_print_run_gets_the_scripted_answer(
    claude_bin: Path, messages_api: Factory, claude_home: Path, workdir: Path
) -> None:
    """`claude -p` runs the scripted Bash call and prints the final text; two requests were made."""
    api = messages_api("bash_touch")
    env = claude_env(claude_home, api.url)
    result = run_print(claude_bin, "make the file", workdir, env, ["--allowedTools", "Bash"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Done: made made.txt."
    assert (workdir / "made.txt").exists()
    assert api.chosen() == ["run-touch", "done"]
    first, second = api.requests
    assert first.body is not None and first.body["stream"] is True
    assert first.facts is not None and "make the file" in first.facts.first_user_text
    assert second.body is not None
    result_block = second.body["messages"][-1]["content"][0]
    assert result_block["type"] == "tool_result" and result_block["is_error"] is False
    transcript = next((config_dir_of(env) / "projects").rglob("*.jsonl"))
    usages = [
        json.loads(line)["message"]["usage"]
        for line in transcript.read_text().splitlines()
        if json.loads(line).get("type") == "assistant"
    ]
    assert {u["cache_creation_input_tokens"] for u in usages} == {3000, 200}


@pytest.mark.slow
def test_interactive_permission_prompt_then_enter(
    claude_bin: Path, messages_api: Factory, claude_home: Path, workdir: Path
) -> None:
    """In tmux a `touch` Bash call shows the permission prompt; Enter approves, the file appears."""
    api = messages_api("bash_touch")
    env = claude_env(claude_home, api.url)
    seed_home(claude_home, workdir, config_dir=config_dir_of(env))
    with TmuxClaude(claude_bin, workdir, env) as tui:
        tui.wait_for("❯")
        tui.type_line("make the file")
        screen = tui.wait_for("Do you want to proceed?")
        assert "touch made.txt" in screen
        assert re.search(r"4\. No\s*$", screen, re.MULTILINE)
        registry = wait_for_file(config_dir_of(env) / "sessions" / f"{tui.pid}.json")
        doc = json.loads(registry.read_text())
        assert (doc["status"], doc["waitingFor"]) == ("waiting", "permission prompt")
        assert not (workdir / "made.txt").exists()
        tui.answer("Enter")
        tui.wait_for("Done: made made.txt.")
        assert (workdir / "made.txt").exists()
        pid, mark, socket = tui.pid, tui.mark, tui.socket_path
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert marked_processes(mark) == []
    assert socket is not None and not socket.exists()


@pytest.mark.slow
def test_unmatched_request_fails_the_client_clearly(
    claude_bin: Path, messages_api: Factory, claude_home: Path, workdir: Path
) -> None:
    """A request no reply matches gets one 500 naming the scenario; claude shows it, no retries."""
    api = messages_api(ONLY_FIVE)
    started = time.monotonic()
    result = run_print(claude_bin, "hello", workdir, claude_env(claude_home, api.url))
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    assert "scenario 'only-five' has no reply for this request: assistant_messages=0" in (
        result.stdout + result.stderr
    )
    (rec,) = api.requests
    assert (rec.status, rec.reply_index) == (500, None)
    assert rec.error is not None and "only-five" in rec.error


def test_server_errors_and_stream_format(messages_api: Factory) -> None:
    """Unmatched → 500 JSON error, unknown path → 404; a match streams the SSE events in order."""
    api = messages_api(ONLY_FIVE)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=api.url) as client:
        unmatched = client.post("/v1/messages?beta=true", json=body)
        assert unmatched.status_code == 500
        assert unmatched.headers["x-should-retry"] == "false"
        error = unmatched.json()
        assert error["type"] == "error" and error["error"]["type"] == "api_error"
        assert "only-five" in error["error"]["message"]
        assert client.get("/v1/models").status_code == 404
        assert client.post("/v1/complete", json=body).status_code == 404
        turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "a"}]
        streamed = client.post("/v1/messages", json={**body, "messages": turn * 5})
    assert streamed.headers["content-type"] == "text/event-stream"
    events = re.findall(r"^event: (\S+)$", streamed.text, re.MULTILINE)
    assert events == [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]  # fmt: skip
    assert [r.status for r in api.requests] == [500, 404, 404, 200]


def test_tool_use_stream_after_delay(messages_api: Factory) -> None:
    """A tool_use reply waits delay_seconds, then streams its input JSON; stop_reason tool_use."""
    tool = {"type": "tool_use", "name": "Bash", "input": {"command": "ls", "description": "d"}}
    scenario = Scenario.from_dict(
        {"replies": [{"delay_seconds": 0.3, "content": [{"type": "text", "text": "Hi"}, tool]}]}
    )
    api = messages_api(scenario)
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    started = time.monotonic()
    response = httpx.post(f"{api.url}/v1/messages?beta=true", json=body)
    assert time.monotonic() - started >= 0.3
    data = [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]
    starts = [d["content_block"] for d in data if d["type"] == "content_block_start"]
    assert starts[1]["type"] == "tool_use" and starts[1]["id"].startswith("toolu_")
    deltas = [d["delta"] for d in data if d["type"] == "content_block_delta"]
    assert deltas[0] == {"type": "text_delta", "text": "Hi"}
    assert json.loads(deltas[1]["partial_json"]) == tool["input"]
    (message_delta,) = [d for d in data if d["type"] == "message_delta"]
    assert message_delta["delta"]["stop_reason"] == "tool_use"
    assert data[0]["message"]["usage"]["input_tokens"] == 1000


@pytest.mark.slow
def test_install_is_pinned_and_idempotent(claude_bin: Path) -> None:
    """The binary reports the version pinned in package.json; a second ensure_claude is quick."""
    started = time.perf_counter()
    assert ensure_claude() == claude_bin
    assert time.perf_counter() - started < 0.5
    assert (
        claude_code_version()
        == json.loads((Path(__file__).parent / "package.json").read_text())["dependencies"][
            "@anthropic-ai/claude-code"
        ]
    )
