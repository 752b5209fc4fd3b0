"""The MCP server: four read-only tools on the official MCP Python SDK (FastMCP), over stdio.

Each tool's input schema comes from its typed parameters and its output schema from its result
model (``results.py``); a call returns both ``structuredContent`` (the model) and a readable
text block (``text.py``). A named error (aggregator down, unknown session, bad ``since``)
becomes the SDK's tool error (``ToolError``, sent as a result with ``isError: true``); the
server stays up for the next call. Blocking API calls run on worker threads (anyio).

Only the MCP protocol goes to stdout; logs go to stderr (the root CLI's logging).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Annotated, Literal, TypeVar

import anyio.to_thread
from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from sessionbeat.errors import SessionbeatError
from sessionbeat.mcp_server.queries import Queries
from sessionbeat.mcp_server.results import ActiveSessions, RecentSessions, SessionReport, WhoElse
from sessionbeat.mcp_server.text import active_text, recent_text, report_text

log = logging.getLogger(__name__)

NAME = "sessionbeat"
"""The server's name in MCP's ``initialize`` answer."""

INSTRUCTIONS = (
    "sessionbeat watches every Claude Code session on this user's machines, live. Before work "
    "that another session could collide with (editing shared files, switching branches, "
    "committing, pushing, migrations), call who_else_is_here: it names the other live sessions "
    "on this repository and whether they share your branch or folder. active_sessions lists "
    "everything live, session shows one session's recent status changes, recent_sessions "
    "what ended lately."
)
"""The server's ``instructions``: when a model should use these tools."""

READ_ONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
"""Every tool only reads the aggregator's state."""

RepoArg = Annotated[
    str | None, Field(description="only this repository (exact name, e.g. 'sessionbeat')")
]
HostArg = Annotated[str | None, Field(description="only this sessionbeat host id (exact)")]
BranchArg = Annotated[str | None, Field(description="only this git branch (exact)")]
IncludeSelfArg = Annotated[bool, Field(description="also list the calling session itself")]
SessionIdArg = Annotated[
    str,
    Field(
        description="a session id as the other tools return it",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
    ),
]
SinceArg = Annotated[
    str | None,
    Field(description="only sessions ended since then: 30m, 12h, 7d or an ISO 8601 time"),
]

ACTIVE_SESSIONS = (
    "List the Claude Code sessions live right now on every machine sessionbeat watches "
    "(status working, needs_approval, waiting_for_input, idle or unknown), each with host, "
    "repo, branch, working directory, status, current tool, task, age and session_id, plus a "
    "one-line summary. Leaves out the calling session unless include_self is true. Filters are "
    "exact names. Call it to see what else is going on, e.g. before a long or risky operation."
)
WHO_ELSE = (
    "Tell who else works on this repository right now: the other live Claude Code sessions "
    "(on any machine) whose git repository is the caller's, each flagged same_branch and "
    "same_cwd, with a one-line summary to act on. No arguments: the repository and branch "
    "come from your working directory. Call it before editing shared files, switching "
    "branches, committing, pushing or running anything another session could step on."
)
SESSION = (
    "Show one session by its session_id (from active_sessions, who_else_is_here or "
    "recent_sessions): host, repo, branch, status, tool, task, model, context used, and its "
    "last status changes, oldest first. Works for live sessions and for ended ones still in "
    "the history."
)
RECENT_SESSIONS = (
    "List sessions that ended recently (sessionbeat's history), newest first, at most 20: "
    "host, repo, branch, task and when each was last active. Filter by exact repo name; since "
    "bounds how far back (30m, 12h, 7d or an ISO 8601 time). Call it to learn what was "
    "done lately on a repository before picking work up."
)

R = TypeVar("R", bound=BaseModel)


async def _answer(call: Callable[[], R], render: Callable[[R], str]) -> CallToolResult:
    """Run a blocking query on a worker thread; return its model and text as one result.

    A ``SessionbeatError`` becomes a ``ToolError`` (an ``isError`` result) with its message.
    """
    try:
        result = await anyio.to_thread.run_sync(call)
    except SessionbeatError as exc:
        log.info("tool error: %s", exc)
        raise ToolError(str(exc)) from None
    return CallToolResult(
        content=[TextContent(type="text", text=render(result))],
        structuredContent=result.model_dump(mode="json"),
    )


def build_server(queries: Queries) -> FastMCP:
    """Return a FastMCP server whose four tools answer from ``queries`` (not yet running)."""
    server: FastMCP = FastMCP(NAME, instructions=INSTRUCTIONS)

    @server.tool(name="active_sessions", description=ACTIVE_SESSIONS, annotations=READ_ONLY)
    async def active_sessions(
        repo: RepoArg = None,
        host: HostArg = None,
        branch: BranchArg = None,
        include_self: IncludeSelfArg = False,
    ) -> Annotated[CallToolResult, ActiveSessions]:
        call = partial(queries.active_sessions, repo, host, branch, include_self)
        return await _answer(call, active_text)

    @server.tool(name="who_else_is_here", description=WHO_ELSE, annotations=READ_ONLY)
    async def who_else_is_here() -> Annotated[CallToolResult, WhoElse]:
        return await _answer(queries.who_else_is_here, active_text)

    @server.tool(name="session", description=SESSION, annotations=READ_ONLY)
    async def session(session_id: SessionIdArg) -> Annotated[CallToolResult, SessionReport]:
        return await _answer(partial(queries.session, session_id), report_text)

    @server.tool(name="recent_sessions", description=RECENT_SESSIONS, annotations=READ_ONLY)
    async def recent_sessions(
        repo: RepoArg = None, since: SinceArg = None
    ) -> Annotated[CallToolResult, RecentSessions]:
        return await _answer(partial(queries.recent_sessions, repo, since), recent_text)

    return server


def serve(queries: Queries, transport: Literal["stdio"] = "stdio") -> None:
    """Run the server on ``transport`` (stdin/stdout) until the client closes stdin."""
    build_server(queries).run(transport)
