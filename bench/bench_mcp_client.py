"""Benchmark what registering ``sessionbeat mcp`` costs the real Claude Code at start.

Usage: .venv/bin/python bench/bench_mcp_client.py [--runs 5]

Runs the pinned Claude Code (``tests/real_client/package.json``, installed into the test cache
like the tests do) offline against the project's scripted Messages API, in a fresh temporary
HOME per run, alternating runs without and with sessionbeat's MCP server registered by the real
``sessionbeat hooks install --mcp`` (hooks left out, so only the MCP server differs; tool search
off, so the tools are sent in full and can be counted):

* ``claude -p``: from spawning ``claude -p hello`` to the first Messages API request arriving,
  and to the process exiting; the number of ``mcp__sessionbeat__*`` tools in that request;
* interactive (tmux): from spawning ``claude`` to its prompt showing, and the number of
  ``mcp__sessionbeat__*`` tools in the request of a prompt typed the moment it shows.

The baseline is the runs without the server, in the same process. Nothing is asserted: it
prints p50 and max per measure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.procs import SCRIPT  # noqa: E402
from tests.real_client.driver import TmuxClaude, claude_env, run_print, seed_home  # noqa: E402
from tests.real_client.install import claude_code_version, ensure_claude  # noqa: E402
from tests.real_client.messages_api import MessagesAPI, Scenario  # noqa: E402

HELLO = Scenario.from_dict({"replies": [{"content": [{"type": "text", "text": "Hello."}]}]})


def _home(root: Path) -> tuple[Path, Path, dict[str, str]]:
    """Make a fresh home with a work dir; return it, the work dir and Claude Code's extra env."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=root))
    work = home / "work"
    work.mkdir()
    return home, work, {"CLAUDE_CONFIG_DIR": str(home / ".claude"), "ENABLE_TOOL_SEARCH": "false"}


def _register(env: dict[str, str], home: Path) -> None:
    """``sessionbeat hooks install --mcp`` into ``env``'s Claude config (hooks elsewhere)."""
    subprocess.run(
        [SCRIPT, "hooks", "install", "--mcp", "--settings", str(home / "unused.json")],
        env={**env, "SESSIONBEAT_STATE_DIR": str(home / "state")},
        check=True,
        capture_output=True,
        timeout=60,
    )


def _mcp_tools(body: dict[str, Any] | None) -> int:
    tools = (body or {}).get("tools") or []
    return sum(1 for t in tools if str(t.get("name", "")).startswith("mcp__sessionbeat__"))


def print_run(claude: Path, root: Path, with_mcp: bool) -> tuple[float, float, int]:
    """One ``claude -p``: (s to the first request, s to exit, sessionbeat tools offered)."""
    home, work, extra = _home(root)
    with MessagesAPI(HELLO) as api:
        env = claude_env(home, api.url, extra)
        if with_mcp:
            _register(env, home)
        started = time.time()
        result = run_print(claude, "hello", work, env)
        ended = time.time()
        assert result.returncode == 0, result.stderr
        first = api.requests[0]
        return first.time - started, ended - started, _mcp_tools(first.body)


def interactive_run(claude: Path, root: Path, with_mcp: bool) -> tuple[float, int]:
    """One tmux session: (s to the prompt, sessionbeat tools offered to a prompt typed then)."""
    home, work, extra = _home(root)
    with MessagesAPI(HELLO) as api:
        env = claude_env(home, api.url, extra)
        seed_home(home, work, config_dir=home / ".claude")
        if with_mcp:
            _register(env, home)
        tui = TmuxClaude(claude, work, env)
        with tui:
            started = time.time()
            tui.wait_for("❯", 60)
            ready = time.time() - started
            tui.type_line("hello")
            tui.wait_for("Hello.", 30)
        return ready, _mcp_tools(api.requests[0].body)


def _row(name: str, values: list[float]) -> str:
    p50, top = statistics.median(values) * 1000, max(values) * 1000
    return f"{name:<44} p50 {p50:7.0f} ms  max {top:7.0f} ms"


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    claude = ensure_claude()
    os.environ.pop("CLAUDE_CONFIG_DIR", None)
    results: dict[bool, dict[str, list[float]]] = {False: {}, True: {}}
    with tempfile.TemporaryDirectory(prefix="sb-bench-mcp-client-") as tmp:
        root = Path(tmp)
        for _ in range(args.runs):
            for with_mcp in (False, True):
                first, total, tools = print_run(claude, root, with_mcp)
                ready, typed_tools = interactive_run(claude, root, with_mcp)
                row = results[with_mcp]
                for key, value in (
                    ("-p: spawn -> first request", first),
                    ("-p: spawn -> exit", total),
                    ("-p: sessionbeat tools offered", tools),
                    ("interactive: spawn -> prompt", ready),
                    ("interactive: tools offered, typed at once", typed_tools),
                ):
                    row.setdefault(key, []).append(value)
    print(f"Claude Code {claude_code_version()}, {args.runs} runs each")
    for with_mcp in (False, True):
        print("with sessionbeat mcp registered:" if with_mcp else "without MCP servers:")
        for key, values in results[with_mcp].items():
            if "offered" in key:
                print(f"  {key:<44} {sorted(int(v) for v in values)}")
            else:
                print("  " + _row(key, values))


if __name__ == "__main__":
    main()
