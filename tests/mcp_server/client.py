"""A real MCP client (the official SDK's stdio client) driving ``sessionbeat mcp``.

:func:`with_server` starts the installed ``sessionbeat mcp`` script as the SDK's
``stdio_client`` does for any MCP host (Claude Code included): a child process of this one,
speaking JSON-RPC on its stdin/stdout. Its stderr goes to a log file.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from tests.procs import SCRIPT

T = TypeVar("T")


def with_server(
    env: dict[str, str], cwd: Path, log: Path, run: Callable[[ClientSession], Awaitable[T]]
) -> T:
    """Start ``sessionbeat mcp`` in ``cwd`` with ``env``, initialize, return ``run(session)``.

    The server is stopped when ``run`` returns (stdin closed, as a host does).
    """

    async def main() -> T:
        params = StdioServerParameters(command=SCRIPT, args=["mcp"], env=env, cwd=cwd)
        with log.open("a") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                return await run(session)

    return anyio.run(main)


def text(result: CallToolResult) -> str:
    """Return the text blocks of a tool result, joined by newlines."""
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    """Return a successful result's ``structuredContent``, checking its text block matches.

    The text block starts with the structured result's summary (``text.py``).
    """
    assert not result.isError, text(result)
    data = result.structuredContent
    assert isinstance(data, dict), result
    assert text(result).startswith(data["summary"])
    json.dumps(data)  # JSON-able as sent
    return data
