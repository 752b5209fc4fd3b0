"""A real aggregator holding sessions in every status, for the page tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from sessionbeat import topics
from sessionbeat.broker import LocalBroker
from sessionbeat.models import HostState, utc_now
from tests.aggregator.support import Publisher, beat, unique_host
from tests.conftest import short_tmpdir
from tests.procs import Aggregator, wait_until


@dataclass(frozen=True)
class Loaded:
    """The aggregator and the hosts whose sessions it holds.

    ``host`` (online) has approve-1 (cwd :data:`CWD`), work-1, wait-1, idle-1, stale-1,
    end-1 live and done-1 in the history; ``down`` (offline) has gone-1.
    """

    aggregator: Aggregator
    host: str
    down: str


TRANSCRIPT = (
    "/home/kai/.claude/projects/-home-kai-src-my-api-with-a-rather-long-folder-name/"
    "3f0c2a9e-8d61-4c7b-a1f2-0b9e7d5c4a13.jsonl"
)
"""approve-1's transcript path: long and unbroken, to show it wraps on a phone."""
CWD = "/home/kai/src/my api"
"""The working directory of approve-1 (with a space, to show the resume command quotes it)."""


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
    """Sessions in every status on a real aggregator (stale after 3 s, so one goes stale)."""
    root = short_tmpdir()
    aggregator = Aggregator(broker.url, root / "agg", SESSIONBEAT_STALE_AFTER="3", **home_env(root))
    publisher = Publisher(broker)
    host, down = unique_host("laptop"), unique_host("desk")
    now = utc_now()
    publisher.status(host, HostState.ONLINE, 1, sent_at=now)
    publisher.status(down, HostState.ONLINE, 1, sent_at=now)
    publisher.beat(beat(down, "gone-1", repo="infra", sent_at=now))
    publisher.beat(beat(host, "stale-1", repo="web", sent_at=now, last_activity_at=now))
    wait_until(lambda: len(aggregator.sessions(host=host)) == 1, 15)
    wait_until(lambda: aggregator.sessions(host=host)["stale-1"]["status"] == "stale", 15)

    live: dict[str, tuple[str, dict[str, object]]] = {}

    def fresh(sid: str, status: str, **fields: object) -> None:
        t = utc_now()
        fields.setdefault("last_activity_at", t)
        live[sid] = (status, fields)
        publisher.beat(beat(host, sid, status=status, sent_at=t, **fields))

    stop = threading.Event()

    def keepalive() -> None:
        """Re-send the live sessions every second, as an agent does (stale-1 is left alone)."""
        seq = 2
        while not stop.wait(1.0):
            for sid, (status, fields) in list(live.items()):
                publisher.beat(
                    beat(
                        host,
                        sid,
                        status=status,
                        seq=seq,
                        sent_at=utc_now(),
                        keepalive=True,
                        **fields,
                    ),
                    wait=False,
                )
            seq += 1

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
    fresh("wait-1", "waiting_for_input", repo="api")
    fresh("idle-1", "working", repo="web", last_activity_at=utc_now() - timedelta(minutes=20))
    fresh("end-1", "ended", repo="api", end_reason="prompt_input_exit")
    keeper = threading.Thread(target=keepalive, daemon=True)
    keeper.start()
    publisher.status(down, HostState.OFFLINE, 1)
    wait_until(
        lambda: (
            {v["status"] for v in aggregator.sessions().values() if v["host"] in (host, down)}
            >= {
                "needs_approval",
                "working",
                "waiting_for_input",
                "idle",
                "stale",
                "offline",
                "ended",
            }
        ),
        15,
    )
    try:
        yield Loaded(aggregator, host, down)
    finally:
        stop.set()
        keeper.join(5)
        publisher.close()  # clears its retained topics from the shared broker
        aggregator.stop()
