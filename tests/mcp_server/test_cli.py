"""``sessionbeat mcp`` as a command: stdout is the protocol alone, the SDK loads only there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sessionbeat.broker.embedded import free_port
from tests.procs import SCRIPT


def test_help_and_other_commands_do_not_import_the_mcp_sdk() -> None:
    """`sessionbeat --help` lists `mcp` but starts without importing the SDK (start-up time)."""
    code = (
        "import sys\n"
        "from sessionbeat.cli import main\n"
        "sys.argv = ['sessionbeat', '--help']\n"
        "main()\n"
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith('mcp.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert " mcp " in out
    assert out.splitlines()[-1] == "[]"


def request(ident: int, method: str, params: dict[str, Any]) -> bytes:
    """One JSON-RPC 2.0 request, one line, as MCP's stdio transport frames it."""
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}).encode()


def test_stdout_carries_only_the_protocol_and_logs_go_to_stderr(tmp_path: Path) -> None:
    """Every stdout line is a JSON-RPC message, even when a tool fails; exit 0 on EOF."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens: the tool call fails
    env = {**os.environ, "SESSIONBEAT_API_URL": url, "SESSIONBEAT_LOG_LEVEL": "DEBUG"}
    init = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "0"},
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    lines = [
        request(1, "initialize", init),
        json.dumps(initialized).encode(),
        request(2, "tools/call", {"name": "who_else_is_here", "arguments": {}}),
    ]
    with (
        (tmp_path / "stderr.log").open("wb") as err,
        subprocess.Popen(
            [SCRIPT, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env
        ) as proc,
    ):
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"\n".join(lines) + b"\n")
        proc.stdin.flush()
        seen = []
        while not any(m.get("id") == 2 for m in seen):
            line = proc.stdout.readline()
            assert line, "the server closed stdout before answering"
            seen.append(json.loads(line))
        proc.stdin.close()
        rest = proc.stdout.read()
        assert proc.wait(30) == 0
    assert rest == b""
    assert all(m["jsonrpc"] == "2.0" for m in seen)
    result = next(m for m in seen if m.get("id") == 2)["result"]
    assert result["isError"] is True
    assert f"cannot reach the aggregator at {url}/sessions" in result["content"][0]["text"]
    stderr = (tmp_path / "stderr.log").read_text()
    assert "tool error: cannot reach the aggregator" in stderr
