"""Claude Code's global config: where it is, our MCP server entry in it, and its lock."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.claude_code import mcp_config as mcp

SCRIPT = "/opt/venvs/sessionbeat/bin/sessionbeat"

# The shape Claude Code 2.1.328 wrote in a test home after a session and `claude mcp add -s user
# other -- /bin/true` (keys and nesting as measured; ids shortened).
GLOBAL_CONFIG: dict[str, Any] = {
    "numStartups": 2,
    "customApiKeyResponses": {"approved": ["sk-test-123"], "rejected": []},
    "hasCompletedOnboarding": True,
    "projects": {
        "/home/user/work/demo": {
            "hasTrustDialogAccepted": True,
            "lastSessionId": "e8d36c6a-4031-47e4-b7e4-1253257edaae",
            "lastCost": 0.06774000000000001,
        }
    },
    "userID": "c6a363ae",
    "mcpServers": {"other": {"type": "stdio", "command": "/bin/true", "args": [], "env": {}}},
    "tipLifetimeShownCounts": {"shift-tab": 1},
}


def test_the_file_is_in_the_config_dir_only_when_one_is_set(tmp_path: Path) -> None:
    """CLAUDE_CONFIG_DIR set: <dir>/.claude.json; unset: ~/.claude.json (not ~/.claude/)."""
    assert mcp.global_config_file(tmp_path / "cfg", tmp_path) == tmp_path / "cfg" / ".claude.json"
    assert mcp.global_config_file(None, tmp_path) == tmp_path / ".claude.json"


def test_our_entry_is_what_claude_mcp_add_writes() -> None:
    """The entry has the four keys `claude mcp add -s user` writes, args ['mcp'], no token."""
    assert mcp.sessionbeat_entry(SCRIPT, "http://kai-server:8787") == {
        "type": "stdio",
        "command": SCRIPT,
        "args": ["mcp"],
        "env": {"SESSIONBEAT_API_URL": "http://kai-server:8787"},
    }
    assert mcp.server_entry("/bin/true", [], {}) == GLOBAL_CONFIG["mcpServers"]["other"]


def test_adding_keeps_everything_else_in_place_and_twice_is_once() -> None:
    """Registering touches only mcpServers.sessionbeat: other keys, order and servers stay."""
    entry = mcp.sessionbeat_entry(SCRIPT, "http://127.0.0.1:8787")
    once = mcp.add_server(GLOBAL_CONFIG, entry)
    assert list(once) == list(GLOBAL_CONFIG)
    assert {k: v for k, v in once.items() if k != "mcpServers"} == {
        k: v for k, v in GLOBAL_CONFIG.items() if k != "mcpServers"
    }
    assert once["mcpServers"] == {**GLOBAL_CONFIG["mcpServers"], "sessionbeat": entry}
    assert mcp.add_server(once, entry) == once
    assert mcp.get_server(once) == entry
    assert "sessionbeat" not in GLOBAL_CONFIG["mcpServers"]  # the input is not changed


def test_adding_to_a_config_without_servers_creates_the_key() -> None:
    """A config without mcpServers (or an empty file) gets one with our entry."""
    entry = mcp.sessionbeat_entry(SCRIPT, "http://127.0.0.1:8787")
    assert mcp.add_server({}, entry) == {"mcpServers": {"sessionbeat": entry}}
    assert mcp.get_server({}) is None


def test_removing_leaves_an_empty_object_like_claude_mcp_remove() -> None:
    """The last server removed leaves "mcpServers": {}; other servers are kept."""
    entry = mcp.sessionbeat_entry(SCRIPT, "http://127.0.0.1:8787")
    assert mcp.remove_server({"mcpServers": {"sessionbeat": entry}}) == {"mcpServers": {}}
    both = mcp.add_server(GLOBAL_CONFIG, entry)
    assert mcp.remove_server(both) == GLOBAL_CONFIG
    assert mcp.remove_server({"a": 1}) == {"a": 1}


@pytest.mark.parametrize("servers", [[], "x", 3])
def test_servers_of_the_wrong_type_are_refused(servers: Any) -> None:
    """An mcpServers that is not an object is an error, never overwritten."""
    with pytest.raises(ValueError, match="'mcpServers' is not an object"):
        mcp.add_server({"mcpServers": servers}, {})
    with pytest.raises(ValueError, match="'mcpServers' is not an object"):
        mcp.remove_server({"mcpServers": servers})


def test_an_entry_of_the_wrong_type_is_refused() -> None:
    """An mcpServers.sessionbeat that is not an object is reported, not taken as ours."""
    with pytest.raises(ValueError, match=r"mcpServers\.sessionbeat is not an object"):
        mcp.get_server({"mcpServers": {"sessionbeat": "x"}})


def test_render_is_claude_codes_json_stringify() -> None:
    """Two-space JSON, unicode kept, no final newline: as JSON.stringify(c, null, 2)."""
    text = mcp.render({"a": {"b": []}, "name": "Jürgen"})
    assert text == '{\n  "a": {\n    "b": []\n  },\n  "name": "Jürgen"\n}'


def test_the_lock_is_a_directory_taken_and_given_back(tmp_path: Path) -> None:
    """While held, <file>.lock exists (Claude Code waits for it); afterwards it is gone."""
    path = tmp_path / ".claude.json"
    with mcp.config_lock(path):
        assert mcp.lock_path(path).is_dir()
        assert mcp.lock_path(path) == tmp_path / ".claude.json.lock"
    assert not mcp.lock_path(path).exists()


def test_a_held_lock_is_waited_for_then_refused(tmp_path: Path) -> None:
    """A fresh lock of another process is respected: TimeoutError, the lock left alone."""
    path = tmp_path / ".claude.json"
    mcp.lock_path(path).mkdir()
    with pytest.raises(TimeoutError, match="held by another process"), mcp.config_lock(path, 0.2):
        pytest.fail("the lock was taken while held")
    assert mcp.lock_path(path).is_dir()


def test_an_abandoned_lock_is_taken_over(tmp_path: Path) -> None:
    """A lock older than 10 s (its holder died) is taken over, as Claude Code does."""
    path = tmp_path / ".claude.json"
    lock = mcp.lock_path(path)
    lock.mkdir()
    old = time.time() - mcp.LOCK_STALE_SECONDS - 5
    os.utime(lock, (old, old))
    with mcp.config_lock(path, 0.2):
        assert lock.stat().st_mtime > old
    assert not lock.exists()


def test_the_lock_is_given_back_when_the_edit_fails(tmp_path: Path) -> None:
    """An error inside the locked block still removes the lock."""
    path = tmp_path / ".claude.json"
    with pytest.raises(json.JSONDecodeError), mcp.config_lock(path):
        json.loads("{")
    assert not mcp.lock_path(path).exists()
