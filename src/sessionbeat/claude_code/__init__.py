"""Readers of Claude Code's own formats, used by the publisher and the page alike.

Hook input and the hook-event catalog, transcripts, the session registry, settings files, the
MCP servers of the global config (``~/.claude.json``) and the status-line input
(docs/claude-code-formats.md).
"""
