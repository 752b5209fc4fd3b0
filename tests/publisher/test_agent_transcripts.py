"""A real agent whose session names a FIFO as its transcript keeps every other session going."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessionbeat import topics
from sessionbeat.broker.client import make_client
from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.settings import load_settings
from sessionbeat.stack.replay import load_payload
from tests.aggregator.support import unique_host
from tests.conftest import short_tmpdir
from tests.procs import Agent, wait_until

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")

HEARTBEAT = "1"
"""Seconds between an idle session's re-publications (SESSIONBEAT_HEARTBEAT_INTERVAL)."""


class Beats:
    """Every session beat of one host as the broker delivers it: seq per session id."""

    def __init__(self, broker: LocalBroker, host: str) -> None:
        self.seqs: dict[str, list[int]] = {}
        self.lock = threading.Lock()
        settings = load_settings(broker_url=broker.url)
        self.client = make_client(f"test-beats-{uuid.uuid4().hex[:8]}", settings.broker)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(topics.host_filter(host), qos=1)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(settings.broker.host, settings.broker.port)
        self.client.loop_start()
        assert subscribed.wait(10)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        parsed = topics.parse(msg.topic)
        if parsed.session_id is None or not msg.payload:
            return
        with self.lock:
            self.seqs.setdefault(parsed.session_id, []).append(json.loads(msg.payload)["seq"])

    def last(self, session_id: str) -> int:
        """The highest seq seen for the session (0: none yet)."""
        with self.lock:
            return max(self.seqs.get(session_id, [0]))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def hook(session_id: str, transcript: Path | None = None) -> bytes:
    """A real UserPromptSubmit input for ``session_id``, naming ``transcript`` if given."""
    data = json.loads(load_payload("hook-UserPromptSubmit-3.json"))
    data["session_id"] = session_id
    if transcript is not None:
        data["transcript_path"] = str(transcript)
    return json.dumps(data).encode()


@pytest.fixture
def fifo() -> Iterator[Path]:
    """A named pipe nobody writes to; a reader blocked in open() is released at the end."""
    path = short_tmpdir("sb-fifo-") / "transcript.jsonl"
    os.mkfifo(path)
    yield path
    with contextlib.suppress(OSError):  # ENXIO: no reader waits
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_transcript_does_not_stall_the_agent(broker: LocalBroker, fifo: Path) -> None:
    """After a hook naming a FIFO, other sessions' beats and heartbeats flow; it shows up too."""
    host = unique_host("fifo")
    beats = Beats(broker, host)
    agent = Agent(
        broker.url, short_tmpdir("sb-fifoa-"), host, SESSIONBEAT_HEARTBEAT_INTERVAL=HEARTBEAT
    )
    try:
        assert agent.publish(hook("first-1")).returncode == 0
        wait_until(lambda: beats.last("first-1"), 15, what="first-1's beat")
        assert agent.publish(hook("piped-1", transcript=fifo)).returncode == 0
        assert agent.publish(hook("later-1")).returncode == 0
        wait_until(lambda: beats.last("later-1"), 15, what="a beat after the FIFO hook")
        wait_until(lambda: beats.last("piped-1"), 15, what="the FIFO session's own beat")
        seen = beats.last("first-1")
        wait_until(lambda: beats.last("first-1") >= seen + 2, 15, what="first-1's heartbeats")
    finally:
        agent.stop()
        beats.close()
