"""``sessionbeat mcp``: an MCP server over the aggregator's live state, for Claude Code sessions.

A session asks who else works on its repository, which sessions are live, what one session did
and what ended lately. ``caller`` recognises the calling session, ``results`` holds the tools'
output models, ``tools`` builds them from the API's models (pure), ``text`` renders them as
readable text, ``server`` wires them to the official MCP Python SDK over stdio and ``cli`` is
the command. Nothing here imports the SDK until the command runs.
"""
