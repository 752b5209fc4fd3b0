"""Hostile sizes against real processes: a real agent, a real Mosquitto, a real aggregator.

Issue 12 (hardening), the host's side: an oversized beat, a broker's Maximum Packet Size,
hooks of tens of megabytes at once, a full disk, garbage in the agent's own files. The waits
are hang guards, never timing assertions.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.publisher.limits import MARKER_END, PATH_MAX, TEXT_MAX
from sessionbeat.stack.replay import load_payload
from tests.conftest import short_tmpdir
from tests.procs import SCRIPT, Agent, Aggregator, wait_until

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SID = "7da73774-862d-4897-94a7-ef847ce65033"  # the recordings' hook-*-1.json session
BIG_TODO = "0f0e0d0c-1111-2222-3333-000000000001"
BIG_TITLE = "0f0e0d0c-1111-2222-3333-000000000002"


def production_packet_limit() -> str:
    """The ``max_packet_size`` line of the shipped production config (mosquitto/mosquitto.conf)."""
    lines = re.findall(
        r"^max_packet_size \d+$",
        (REPO / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert len(lines) == 1, lines
    return lines[0]


def limited_broker(limit_line: str) -> Iterator[LocalBroker]:
    """A real Mosquitto refusing packets over a size (``limit_line``), stopped afterwards."""
    broker = LocalBroker(short_tmpdir("sb-lbroker-"), extra_config=limit_line)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def prod_limited() -> Iterator[LocalBroker]:
    """Mosquitto with the production config's ``max_packet_size`` (256 KiB)."""
    yield from limited_broker(production_packet_limit())


@pytest.fixture
def tiny_limited() -> Iterator[LocalBroker]:
    """Mosquitto with a 2 KiB ``max_packet_size``: a beat with long paths does not fit."""
    yield from limited_broker("max_packet_size 2048")


@pytest.fixture
def aggregator_on(request: pytest.FixtureRequest) -> Iterator[Aggregator]:
    """A real aggregator on the broker fixture the test names (``prod_limited`` etc.)."""
    broker: LocalBroker = request.getfixturevalue(request.param)
    agg = Aggregator(broker.url, short_tmpdir() / "agg")
    try:
        yield agg
    finally:
        agg.stop()


def hook(sid: str, event: str, **fields: Any) -> bytes:
    """A hook input as Claude Code writes it to stdin (compact JSON)."""
    doc = {"session_id": sid, "hook_event_name": event, "cwd": "/home/kai/work", **fields}
    return json.dumps(doc, separators=(",", ":")).encode()


def agent_status(agent: Agent) -> dict[str, Any]:
    """The agent's status file (``sessionbeat agent status`` reads it), {} while absent."""
    try:
        status: dict[str, Any] = json.loads((agent.state_dir / "agent-status.json").read_text())
    except (OSError, ValueError):
        return {}
    return status


def sessions_of(agent: Agent) -> list[str]:
    """The ids of the live sessions in the agent's status file."""
    return [s["session_id"] for s in agent_status(agent).get("sessions", [])]


def host_state(agg: Aggregator, host: str) -> str | None:
    """The host's state (online/offline) as the aggregator reports it."""
    state: str | None = {h["host"]: h for h in agg.get("/hosts")}.get(host, {}).get("state")
    return state


def connects(agent: Agent) -> int:
    """How many times the agent connected to the broker (its log says so once per CONNACK)."""
    return agent.output().count("connected to ")


@pytest.mark.parametrize("aggregator_on", ["prod_limited"], indirect=True)
def test_an_oversized_session_is_cut_and_the_host_stays_online(
    prod_limited: LocalBroker, aggregator_on: Aggregator
) -> None:
    """A 300k-character todo, a 100k cwd and a 70k title: both sessions show, cut; nothing stops.

    Before: the 600 KB beat made Mosquitto (max_packet_size 262144) drop the agent, which
    reconnected every second and re-sent it from its spool; the host showed offline.
    """
    agg = aggregator_on
    agent = Agent(prod_limited.url, short_tmpdir() / "laptop", "laptop")
    try:
        agent.publish(load_payload("hook-SessionStart-1.json"))
        wait_until(lambda: SID in agg.sessions(), 15, what="the first session")
        todo = {"content": "c" * 300_000, "status": "in_progress", "activeForm": "a" * 300_000}
        big = hook(
            BIG_TODO,
            "PreToolUse",
            cwd="/" + "d" * 100_000,
            tool_name="TodoWrite",
            tool_input={"todos": [todo]},
        )
        assert len(big) > 600_000
        agent.publish(big)
        agent.publish(hook(BIG_TITLE, "UserPromptSubmit", session_title="t" * 70_000))
        agent.publish(load_payload("hook-UserPromptSubmit-1.json"))  # other sessions flow on
        sessions = wait_until(
            lambda: (
                (s := agg.sessions()).get(SID, {}).get("status") == "working"
                and BIG_TODO in s
                and BIG_TITLE in s
                and s
            ),
            30,
            what="every session, the first one working",
        )
        assert host_state(agg, "laptop") == "online"
        assert connects(agent) == 1, agent.output()[-3000:]  # no reconnect loop
    finally:
        agent.stop()
    todo_view, title_view = sessions[BIG_TODO], sessions[BIG_TITLE]
    assert todo_view["status"] == "working" and todo_view["tool"] == "TodoWrite"
    assert todo_view["task"].startswith("aaaa") and todo_view["task"].endswith(MARKER_END)
    assert len(todo_view["task"]) <= TEXT_MAX
    assert todo_view["cwd"].startswith("/ddd") and len(todo_view["cwd"]) <= PATH_MAX
    assert title_view["task"].startswith("tttt") and len(title_view["task"]) <= TEXT_MAX
    metrics = agg.get_text("/metrics")
    # nothing the aggregator had to refuse
    assert 'sessionbeat_messages_rejected_total{reason="too_large"} 0.0' in metrics


@pytest.mark.parametrize("aggregator_on", ["tiny_limited"], indirect=True)
def test_a_beat_over_the_brokers_maximum_packet_size_goes_out_minimal(
    tiny_limited: LocalBroker, aggregator_on: Aggregator
) -> None:
    """The broker announces 2 KiB in its CONNACK: a bigger beat goes out as status and ids only."""
    agg = aggregator_on
    agent = Agent(tiny_limited.url, short_tmpdir() / "laptop", "laptop")
    sid = "0f0e0d0c-1111-2222-3333-000000000003"
    try:
        wait_until(lambda: agent_status(agent).get("online"), 15, what="the agent online")
        long_path = "/" + "p" * 1500
        agent.publish(hook(sid, "UserPromptSubmit", cwd=long_path, transcript_path=long_path))
        view = wait_until(lambda: agg.sessions().get(sid), 15, what="the session")
        agent.publish(load_payload("hook-SessionStart-1.json"))
        wait_until(lambda: SID in agg.sessions(), 15, what="the next session")
        status = wait_until(lambda: (s := agent_status(agent)).get("beats_minimal") and s, 15)
        assert host_state(agg, "laptop") == "online"
        assert connects(agent) == 1, agent.output()[-3000:]
    finally:
        agent.stop()
    assert (view["status"], view["cwd"], view["seq"]) == ("working", None, 1)
    assert status["broker_max_packet_size"] == 2048
    assert status["beats_minimal"] == 1
    assert "minimal" in agent.output()  # logged once


def test_huge_hooks_to_a_stalled_agent_arrive_whole_never_cut(broker: LocalBroker) -> None:
    """12 hooks of 8 MB while the agent stalls (the issue: 20 of 30 MB): each arrives whole.

    The agent is stopped (SIGSTOP) while the hooks send, so each gives up mid-frame after its
    0.5 s and leaves the event in the inbox. Before: the agent, resumed, took the cut frames
    queued on its socket (and failed them as bad JSON), then dropped the whole inbox copies as
    their duplicates: 13 of 20 lost in the issue's run.
    """
    agent = Agent(broker.url, short_tmpdir() / "bulky", "bulky")
    sids = [f"0f0e0d0c-1111-2222-3333-{n:012d}" for n in range(12)]
    padding = "x" * (8 * 1024 * 1024)

    def run(sid: str) -> int:
        payload = hook(
            sid,
            "PostToolUse",
            tool_name="Bash",
            tool_input={"command": "cat big.log"},
            tool_response={"stdout": padding, "stderr": ""},
        )
        return subprocess.run(
            [SCRIPT, "publish"], input=payload, env=agent.env, capture_output=True, timeout=60
        ).returncode

    inbox, held = agent.state_dir / "inbox", agent.state_dir / "inbox-held"
    marker = "0f0e0d0c-1111-2222-3333-999999999999"
    try:
        wait_until(lambda: agent_status(agent), 15, what="the agent's status file")
        agent.signal(signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(len(sids)) as pool:
                assert list(pool.map(run, sids)) == [0] * len(sids)
            # Deterministic order: the agent meets the frames on its socket before it scans
            # the inbox (the race the run lost), and a small hook after them marks
            # that every frame queued on the socket has been handled.
            inbox.rename(held)
        finally:
            agent.signal(signal.SIGCONT)
        agent.publish(hook(marker, "SessionStart"))
        wait_until(lambda: marker in sessions_of(agent), 30, what="the marker hook")
        held.rename(inbox)
        status = wait_until(
            lambda: (s := agent_status(agent)) and set(sessions_of(agent)) >= set(sids) and s,
            60,
            what="every big hook's session",
        )
    finally:
        agent.stop()
    assert status["bad_events"] == {}  # none arrived cut
    assert status["events"] == len(sids) + 1
    assert not list(inbox.glob("*.evt"))


@pytest.mark.parametrize("aggregator_on", ["own_broker"], indirect=True)
def test_full_disk_during_an_outage_keeps_every_transition(
    own_broker: LocalBroker, aggregator_on: Aggregator
) -> None:
    """Broker away and the spool's disk full (ENOSPC): the approval in between still arrives.

    The spool file is a link to /dev/full, where every write fails with ENOSPC, as on a full
    disk; the agent keeps the beats in memory and replays them after the reconnect.
    """
    agg = aggregator_on
    state = short_tmpdir() / "fulldisk"
    state.mkdir()
    (state / "spool.jsonl").symlink_to("/dev/full")
    agent = Agent(own_broker.url, state, "fulldisk")
    files = [
        "hook-UserPromptSubmit-1.json",
        "hook-PreToolUse-2.json",
        "hook-PermissionRequest-2.json",
        "hook-PostToolUseFailure-1.json",
        "hook-Stop-1.json",
    ]
    try:
        agent.publish(load_payload("hook-SessionStart-1.json"))
        wait_until(lambda: SID in agg.sessions(), 15)
        own_broker.stop()
        for name in files:
            assert agent.publish(load_payload(name)).returncode == 0
        wait_until(lambda: agent_status(agent).get("events") == 1 + len(files), 15)
        own_broker.start()
        wait_until(lambda: agg.sessions().get(SID, {}).get("event") == "Stop", 60)
        detail = agg.get(f"/sessions/{SID}")
        status = wait_until(
            lambda: (s := agent_status(agent)).get("online") and s["spooled_pending"] == 0 and s,
            15,
            what="the replay done",
        )
    finally:
        agent.stop()
    statuses = [t["status"] for t in detail["timeline"]]
    assert "needs_approval" in statuses  # the approval during the outage was not lost
    assert statuses.index("needs_approval") < len(statuses) - 1
    assert status["spool_errors"] >= 1  # the disk refused, so the beats waited in memory
    assert status["spool_in_memory"] == 0  # and were all replayed
    assert (state / "spool.jsonl").is_symlink()


@pytest.mark.parametrize("aggregator_on", ["prod_limited"], indirect=True)
def test_garbage_in_the_agents_files_is_skipped_counted_and_logged_once(
    prod_limited: LocalBroker, aggregator_on: Aggregator
) -> None:
    """An unreadable bdseq and a spool with garbage, a 600 KB beat and a wildcard topic.

    The good spooled beat is replayed, the rest skipped and counted; each recovery is logged
    once; the host comes online without a reconnect loop.
    """
    agg = aggregator_on
    state = short_tmpdir() / "garbage"
    state.mkdir()
    (state / "bdseq").write_text("not a number\n")
    good = {
        "v": 1,
        "host": "garbage",
        "session_id": SID,
        "status": "needs_approval",
        "seq": 3,
        "sent_at": "2026-11-25T08:38:12.431Z",
    }
    huge = {**good, "task": "x" * 600_000}
    topic = f"sessionbeat/v1/garbage/sessions/{SID}"

    def line(t: str, payload: dict[str, Any]) -> str:
        return json.dumps({"t": t, "p": json.dumps(payload), "c": 1.0e9}) + "\n"

    (state / "spool.jsonl").write_text(
        "garbage that is not JSON\n"
        + line(topic, huge)
        + line("sessionbeat/v1/garbage/sessions/#", good)
        + line(topic, good)
    )
    agent = Agent(prod_limited.url, state, "garbage", SESSIONBEAT_REPLAY_GRACE="0")
    try:
        view = wait_until(lambda: agg.sessions().get(SID), 30, what="the spooled beat")
        wait_until(lambda: host_state(agg, "garbage") == "online", 15)
        status = wait_until(lambda: (s := agent_status(agent)).get("online") and s, 15)
        assert connects(agent) == 1, agent.output()[-3000:]
    finally:
        agent.stop()
    assert (view["published_status"], view["seq"]) == ("needs_approval", 3)
    assert status["bdseq"] == 0 and status["spool_skipped"] == 3
    log = agent.output()
    assert log.count("bdseq") >= 1 and log.count("cannot read bdseq") == 1
    assert log.count("skipped 3 unusable spool lines") == 1
    assert not (state / "spool.jsonl").exists()
