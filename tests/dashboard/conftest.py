"""A real aggregator holding sessions in every status, for the page tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sessionbeat import topics
from sessionbeat.broker.client import publish_properties
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import HostState, utc_now
from tests.aggregator.support import Publisher, beat, unique_host
from tests.conftest import short_tmpdir
from tests.procs import Aggregator, wait_until


@dataclass(frozen=True)
class Loaded:
    """The aggregator and the hosts whose sessions it holds.

    ``host`` (online) has approve-1 (cwd :data:`CWD`), work-1, wait-1, idle-1, stale-1,
    end-1 live and done-1 in the history; ``down`` (offline) has gone-1. ``idle_activity``
    is idle-1's last hook activity (its card says how long ago).
    """

    aggregator: Aggregator
    host: str
    down: str
    idle_activity: datetime


TRANSCRIPT = (
    "/home/kai/.claude/projects/-home-kai-src-my-api-with-a-rather-long-folder-name/"
    "3f0c2a9e-8d61-4c7b-a1f2-0b9e7d5c4a13.jsonl"
)
"""approve-1's transcript path: long and unbroken, to show it wraps on a phone."""
CWD = "/home/kai/src/my api"
"""The working directory of approve-1 (with a space, to show the resume command quotes it)."""
STALE_AFTER = 3600
"""The aggregator's stale threshold (s): far longer than the module runs, so no live session
goes stale during it without heartbeats."""
STALE_AGE = timedelta(hours=2)
"""How old stale-1's only beat is when the aggregator starts: past :data:`STALE_AFTER`."""
LINGER = 86_400
"""Reap and ended-linger thresholds (s): nothing leaves the live list during the module."""


def home_env(root: Path) -> dict[str, str]:
    """Return HOME, XDG dirs and SESSIONBEAT_CONFIG under ``root``.

    For processes started by module-scoped fixtures, which start before the autouse
    ``isolated_env`` applies (tests never touch the real home).
    """
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "SESSIONBEAT_CONFIG": str(root / "config.toml"),
    }


@pytest.fixture(scope="module")
def loaded(broker: LocalBroker) -> Iterator[Loaded]:
    """Sessions in every status on a real aggregator, each status fixed for the module's run.

    No heartbeats and no race with a short stale threshold: the aggregator counts a session
    stale after an hour, and stale-1 is a retained beat the broker has held two hours when the
    aggregator starts (a retained replay is aged by its Message Expiry, as an agent sets it:
    ``reap_after`` when published, two hours less here), so it is stale from the start while
    the live ones stay live. Ended sessions linger and nothing is reaped for a day.
    """
    root = short_tmpdir()
    publisher = Publisher(broker)
    host, down = unique_host("laptop"), unique_host("desk")
    now = utc_now()
    old = now - STALE_AGE
    stale = beat(host, "stale-1", repo="web", sent_at=old, last_activity_at=old)
    stale_topic = topics.session_topic(host, "stale-1")
    expiry = publish_properties(LINGER - STALE_AGE.total_seconds())
    publisher.client.publish(
        stale_topic, stale.model_dump_json().encode(), qos=1, retain=True, properties=expiry
    ).wait_for_publish(10)
    publisher.retained.add(stale_topic)
    aggregator = Aggregator(
        broker.url,
        root / "agg",
        SESSIONBEAT_STALE_AFTER=str(STALE_AFTER),
        SESSIONBEAT_REAP_AFTER=str(LINGER),
        SESSIONBEAT_ENDED_LINGER=str(LINGER),
        **home_env(root),
    )
    wait_until(lambda: aggregator.sessions(host=host).get("stale-1", {}).get("status"), 15)
    assert aggregator.sessions(host=host)["stale-1"]["status"] == "stale"
    publisher.status(host, HostState.ONLINE, 1, sent_at=now)
    publisher.status(down, HostState.ONLINE, 1, sent_at=now)
    publisher.beat(beat(down, "gone-1", repo="infra", sent_at=now))

    def fresh(sid: str, status: str, **fields: object) -> None:
        t = utc_now()
        fields.setdefault("last_activity_at", t)
        publisher.beat(beat(host, sid, status=status, sent_at=t, **fields))

    done = beat(
        host,
        "done-1",
        status="ended",
        repo="api",
        branch="release",
        task="Ship the release",
        end_reason="logout",
        started_at=now - timedelta(hours=1),
        last_activity_at=now - timedelta(minutes=5),
        sent_at=now,
    )
    publisher.beat(done)
    wait_until(lambda: "done-1" in aggregator.sessions(host=host), 15)
    publisher.clear(topics.session_topic(host, "done-1"))  # removed: written to the history
    wait_until(lambda: aggregator.get("/history", host=host)["total"] == 1, 15)

    fresh(
        "approve-1",
        "needs_approval",
        cwd=CWD,
        transcript_path=TRANSCRIPT,
        repo="api",
        branch="main",
        tool="Bash",
        detail="pytest -x",
        model="claude-opus-4-6",
        context_tokens=130_000,
        context_window=200_000,
        subagents=2,
    )
    fresh(
        "work-1",
        "working",
        repo="web",
        tool="Edit",
        task="Fixing the login form",
        claude_version="2.1.328",
        entrypoint="cli",
        tmux="work:@1.%3",
    )
    fresh("wait-1", "waiting_for_input", repo="api", branch="main")  # 2 on api@main
    idle_activity = utc_now() - timedelta(minutes=20)
    fresh("idle-1", "working", repo="web", last_activity_at=idle_activity)
    fresh("end-1", "ended", repo="api", end_reason="prompt_input_exit")
    publisher.status(down, HostState.OFFLINE, 1)
    expected = {
        "approve-1": "needs_approval",
        "work-1": "working",
        "wait-1": "waiting_for_input",
        "idle-1": "idle",
        "stale-1": "stale",
        "end-1": "ended",
        "gone-1": "offline",
    }
    wait_until(
        lambda: (
            {
                sid: v["status"]
                for sid, v in aggregator.sessions().items()
                if v["host"] in (host, down)
            }
            == expected
        ),
        15,
        what=f"sessions {expected}",
    )
    try:
        yield Loaded(aggregator, host, down, idle_activity)
    finally:
        publisher.close()  # clears its retained topics from the shared broker
        aggregator.stop()
