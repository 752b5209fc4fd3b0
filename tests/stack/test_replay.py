"""The recorded sessions the demo replays (replay.py)."""

from __future__ import annotations

import json

from sessionbeat.stack.replay import SESSIONS, STATUSLINES, load_payload, renamed, session_ids


def test_the_demo_counts_every_session_it_shows() -> None:
    """Hook groups and status-line inputs together: the number the demo prints is what appears."""
    hooks = {json.loads(load_payload(f))["session_id"] for s in SESSIONS for f in s.files}
    lines = {json.loads(load_payload(name))["session_id"] for _h, name in STATUSLINES}
    assert session_ids() == hooks | lines
    assert len(session_ids()) == 12
    assert len(SESSIONS) == 10  # what the demo used to print


def test_each_round_gets_fresh_ids_and_keeps_sessions_together() -> None:
    """A later round renames every session; events of one session share the new id."""
    start, stop = load_payload("hook-SessionStart-1.json"), load_payload("hook-Stop-1.json")
    assert renamed(start, None) == start  # the first round as recorded
    one: dict[str, str] = {}
    two: dict[str, str] = {}
    a, b = (json.loads(renamed(p, one)) for p in (start, stop))
    c = json.loads(renamed(start, two))
    original = json.loads(start)
    assert a["session_id"] == b["session_id"] != original["session_id"]
    assert c["session_id"] not in (a["session_id"], original["session_id"])
    assert {k: v for k, v in a.items() if k != "session_id"} == {
        k: v for k, v in original.items() if k != "session_id"
    }
