"""A probe MCP server (stdio, official ``mcp`` SDK) that records what Claude Code gives it.

Run as ``python mcp_probe.py <out dir>``. At start it writes ``<out dir>/<pid>-start.json``:
its environment variable names (values only for the variables that look like they could carry
a session: ``CLAUDE*``, ``*SESSION*``, ``MCP*``, and ``PWD``/``OLDPWD``), its cwd, ``os.getppid()``,
the chain of parent processes (pid, name, argv[0]) up to pid 1, and for each of those parents
whether Claude Code's session registry (``$CLAUDE_CONFIG_DIR/sessions/<pid>.json``, else
``~/.claude/sessions/<pid>.json``) has an entry, with its ``sessionId``. The registry is looked
at again one second later (``registry_after_1s``): Claude Code may write it after it started its
MCP servers. Its one tool, ``probe``, writes ``<out dir>/<pid>-call-<n>.json`` with the same
registry look-up, the ``initialize`` parameters the client sent (client name and version,
capabilities) and the request's ``_meta``, and returns ``"probe <pid>"``.

A test helper only (tests/real_client/test_mcp.py); docs/claude-code-formats.md ("MCP servers:
what Claude Code passes") records what it measured.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from mcp.server.fastmcp import Context, FastMCP

_VALUE_SHOWN = ("CLAUDE", "MCP", "SESSION")


def shown_values(env: dict[str, str]) -> dict[str, str]:
    """Return the variables of ``env`` worth showing with their value (see the module doc)."""
    return {
        k: v
        for k, v in env.items()
        if any(word in k.upper() for word in _VALUE_SHOWN) or k in ("PWD", "OLDPWD")
    }


def parents() -> list[dict[str, Any]]:
    """Return this process's ancestors, nearest first: ``{"pid", "name", "exe0"}`` each."""
    chain = []
    proc = psutil.Process().parent()
    while proc is not None:
        try:
            argv = proc.cmdline()
            chain.append({"pid": proc.pid, "name": proc.name(), "exe0": argv[0] if argv else ""})
            proc = proc.parent()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            break
    return chain


def registry_dir() -> Path:
    """Return Claude Code's registry folder for this environment."""
    config = os.environ.get("CLAUDE_CONFIG_DIR")
    base = Path(config) if config else Path.home() / ".claude"
    return base / "sessions"


def registry_hits(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return, for each ancestor with a registry file, ``{"pid", "sessionId", "cwd"}``."""
    hits = []
    for parent in chain:
        path = registry_dir() / f"{parent['pid']}.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        hits.append(
            {"pid": parent["pid"], "sessionId": doc.get("sessionId"), "cwd": doc.get("cwd")}
        )
    return hits


def write(out: Path, name: str, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``out/name`` atomically."""
    tmp = out / f".{name}.tmp"
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(out / name)


def main(out: Path) -> None:
    """Record the start, then serve the ``probe`` tool over stdio until stdin closes."""
    out.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    env = dict(os.environ)
    chain = parents()
    start: dict[str, Any] = {
        "pid": pid,
        "ppid": os.getppid(),
        "cwd": os.getcwd(),
        "argv": sys.argv,
        "env_names": sorted(env),
        "env_values": shown_values(env),
        "parents": chain,
        "registry_dir": str(registry_dir()),
        "registry_at_start": registry_hits(chain),
        "stdin_is_tty": sys.stdin.isatty(),
    }
    write(out, f"{pid}-start.json", start)

    def later() -> None:
        time.sleep(1.0)
        write(out, f"{pid}-start.json", {**start, "registry_after_1s": registry_hits(chain)})

    threading.Thread(target=later, daemon=True).start()
    server = FastMCP("probe")
    calls = 0

    @server.tool()
    def probe(ctx: Context) -> str:  # type: ignore[type-arg]
        """Record what the server knows at a tool call; return ``probe <pid>``."""
        nonlocal calls
        calls += 1
        params = ctx.session.client_params
        meta = ctx.request_context.meta
        write(
            out,
            f"{pid}-call-{calls}.json",
            {
                "registry": registry_hits(parents()),
                "client": params.model_dump(mode="json") if params else None,
                "meta": meta.model_dump(mode="json") if meta else None,
            },
        )
        return f"probe {pid}"

    @server.tool(structured_output=False)
    def probe_text() -> str:
        """Return ``probe <pid>`` as plain text content only (no ``structuredContent``)."""
        return f"probe {pid}"

    server.run("stdio")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
