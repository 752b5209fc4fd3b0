"""Run the real Claude Code CLI offline against a scripted Messages API (the test harness).

``install`` installs the version pinned in ``package.json``; ``messages_api`` is the scripted
server (scenarios in ``scenarios/``); ``driver`` runs ``claude -p`` and interactive sessions in
tmux; ``capture_fixtures`` (with ``hook_logger``) re-captures the real payloads in
``tests/fixtures/claude-code/real-<version>/``.
"""
