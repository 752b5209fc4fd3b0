"""``sessionbeat mcp``: serve the live sessions to Claude Code as an MCP server over stdio.

Reads the aggregator like the other readers: ``--api-url`` / ``SESSIONBEAT_API_URL`` with the
bearer token ``SESSIONBEAT_API_TOKEN``. The MCP SDK is imported only here, when the command
runs, so ``sessionbeat --help`` and every other command start without it.
"""

from __future__ import annotations

import logging

import typer

from sessionbeat.cli_support import get_settings

MCP_API_TIMEOUT = 5.0
"""Seconds one API request may take before the tool answers that the aggregator is down."""


def mcp(ctx: typer.Context) -> None:
    """Serve live sessions to Claude Code over MCP (stdio): who else works on this repo.

    Claude Code starts it (`claude mcp add sessionbeat -- sessionbeat mcp`); it reads the
    aggregator's API and writes only the MCP protocol to stdout, logs to stderr.
    """
    from sessionbeat.mcp_server.queries import Queries
    from sessionbeat.mcp_server.server import serve
    from sessionbeat.readers.client import ApiClient

    settings = get_settings(ctx)
    if settings.log_level != "DEBUG":  # the SDK logs every request at INFO
        logging.getLogger("mcp").setLevel(logging.WARNING)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    with ApiClient(settings.api_url, token=token, timeout=MCP_API_TIMEOUT) as api:
        serve(Queries(api, settings.host, settings.claude_config_dir))
