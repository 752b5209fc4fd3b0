"""SessionbeatCollector: the metrics a scrape shows for a state built by the pure core."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import DuplicateTimeseries

from sessionbeat import __version__, topics
from sessionbeat.aggregator.snapshot import take_snapshot
from sessionbeat.aggregator.state import AggregatorState, Message, apply, expire
from sessionbeat.exporter.collector import DEFAULT_MAX_REPOS_PER_HOST, SessionbeatCollector
from sessionbeat.exporter.snapshot import StateSnapshot
from sessionbeat.models import NotifyKind, NotifyStatus
from tests.aggregator.support import notify_on
from tests.tools import require_tool

T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class World:
    """A state fed through ``apply`` and a fresh registry scraping it at a settable time."""

    def __init__(
        self,
        broker_connected: bool = True,
        notify: NotifyStatus | None = None,
        max_repos: int = DEFAULT_MAX_REPOS_PER_HOST,
    ) -> None:
        self.state = AggregatorState()
        self.now = T0
        self.broker_connected = broker_connected
        self.seq = 0
        self.notify = notify
        self.registry = CollectorRegistry()
        status = None if notify is None else (lambda: self.notify or NotifyStatus(enabled=False))
        self.registry.register(
            SessionbeatCollector(self.snapshot, notify_status=status, max_repos_per_host=max_repos)
        )

    def snapshot(self) -> StateSnapshot:
        return take_snapshot(self.state, self.now, self.broker_connected)

    def send(self, topic: str, payload: bytes, retained: bool = False) -> None:
        apply(self.state, Message(topic, payload, retained), self.now)

    def birth(self, host: str, bdseq: int = 1, state: str = "online") -> None:
        body = {"v": 1, "host": host, "state": state, "bdseq": bdseq, "sent_at": self.iso()}
        self.send(topics.status_topic(host), _json(body))

    def beat(self, host: str, sid: str, status: str, **fields: Any) -> None:
        self.seq += 1
        body: dict[str, Any] = {
            "v": 1,
            "host": host,
            "session_id": sid,
            "status": status,
            "seq": self.seq,
            "sent_at": self.iso(),
            "last_activity_at": self.iso(),
            "started_at": T0.isoformat(),
            "cwd": f"/home/dev/{fields.get('repo') or 'scratch'}",
            "model": "claude-opus-4-6",
            "status_source": "hook",
        }
        body.update(fields)
        self.send(topics.session_topic(host, sid), _json(body))

    def iso(self) -> str:
        return self.now.isoformat().replace("+00:00", "Z")

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


SID_A = "3f1c2d9e-0b7a-4c1e-9a53-6d2f8e1b4c70"
SID_B = "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
SID_C = "c0ffee00-1111-4222-8333-444455556666"


def test_sessions_counted_by_host_repo_and_status() -> None:
    """Each (host, repo, status) has its count, with zeros for the host's other statuses."""
    w = World()
    w.birth("mac")
    w.birth("kai-server")
    w.beat("mac", SID_A, "working", repo="sessionbeat", event="PreToolUse", tool="Bash")
    w.beat("mac", SID_B, "working", repo="sessionbeat", event="PostToolUse")
    w.beat("kai-server", SID_C, "needs_approval", repo="infra", event="PermissionRequest")
    assert w.value("sessionbeat_sessions", host="mac", repo="sessionbeat", status="working") == 2
    assert w.value("sessionbeat_sessions", host="mac", repo="sessionbeat", status="idle") == 0
    assert (
        w.value("sessionbeat_sessions", host="kai-server", repo="infra", status="needs_approval")
        == 1
    )
    assert (
        w.value("sessionbeat_sessions", host="kai-server", repo="sessionbeat", status="working")
        is None
    )


def test_session_outside_a_repo_has_empty_repo_label() -> None:
    """A session with no git repo is counted under repo="" (an absent label in PromQL)."""
    w = World()
    w.beat("mac", SID_A, "waiting_for_input", repo=None, event="SessionStart")
    assert w.value("sessionbeat_sessions", host="mac", repo="", status="waiting_for_input") == 1


def test_derived_statuses_follow_the_clock() -> None:
    """A session silent for longer than stale_after is exported as stale at scrape time."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r", event="PreToolUse")
    w.now = at(w.state.timings.stale_after + 1)
    assert w.value("sessionbeat_sessions", host="mac", repo="r", status="stale") == 1
    assert w.value("sessionbeat_sessions", host="mac", repo="r", status="working") == 0


def test_no_session_id_anywhere_in_the_exposition() -> None:
    """No label is named session_id and no label value carries a session id."""
    w = World()
    w.birth("mac")
    w.beat("mac", SID_A, "needs_approval", repo="r", event="PermissionRequest", subagents=2)
    text = generate_latest(w.registry).decode()
    assert SID_A not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            assert "session_id" not in sample.labels
            assert set(sample.labels) <= {
                "host",
                "repo",
                "status",
                "event",
                "reason",
                "le",
                "version",
                "python_version",
                "kind",
                "result",
            }


def test_host_up_and_state_change_time_follow_birth_and_will() -> None:
    """Birth gives host_up 1; the Last Will (same bdseq) gives 0 and moves the change time."""
    w = World()
    w.birth("mac", bdseq=4)
    assert w.value("sessionbeat_host_up", host="mac") == 1
    assert w.value("sessionbeat_host_state_change_timestamp_seconds", host="mac") == T0.timestamp()
    assert w.value("sessionbeat_host_bdseq", host="mac") == 4
    w.now = at(90)
    w.birth("mac", bdseq=4, state="offline")
    assert w.value("sessionbeat_host_up", host="mac") == 0
    assert (
        w.value("sessionbeat_host_state_change_timestamp_seconds", host="mac") == at(90).timestamp()
    )


def test_late_will_keeps_host_up_and_is_counted() -> None:
    """An offline with an older bdseq leaves the host up and counts as an ignored stale death."""
    w = World()
    w.birth("mac", bdseq=5)
    w.birth("mac", bdseq=4, state="offline")
    assert w.value("sessionbeat_host_up", host="mac") == 1
    assert w.value("sessionbeat_stale_deaths_ignored_total") == 1


def test_host_known_only_from_sessions_has_no_up_series() -> None:
    """A host that never sent a status message has no host_up (unknown is not down)."""
    w = World()
    w.beat("win", SID_A, "working", repo="r", event="PreToolUse")
    assert w.value("sessionbeat_host_up", host="win") is None
    assert w.value("sessionbeat_approval_oldest_wait_seconds", host="win") == 0


def test_host_clock_skew_from_its_live_beats() -> None:
    """A host whose beats are dated 90 s ahead shows a +90 s clock skew; sessions-only too."""
    w = World()
    w.beat("win", SID_A, "working", repo="r", sent_at=at(90).isoformat())
    assert w.value("sessionbeat_host_clock_skew_seconds", host="win") == 90
    assert w.value("sessionbeat_host_clock_skew_seconds", host="mac") is None


def test_forgotten_hosts_are_counted() -> None:
    """An offline host without sessions is forgotten after host_reap_after and counted."""
    w = World()
    w.birth("mac", bdseq=2, state="offline")
    assert w.value("sessionbeat_hosts_reaped_total") == 0
    expire(w.state, at(w.state.timings.host_reap_after))
    assert w.value("sessionbeat_hosts_reaped_total") == 1
    assert w.value("sessionbeat_host_up", host="mac") is None


def test_offline_host_shows_its_sessions_offline() -> None:
    """After a host's Will, its live sessions are counted as offline."""
    w = World()
    w.birth("mac", bdseq=1)
    w.beat("mac", SID_A, "working", repo="r", event="PreToolUse")
    w.birth("mac", bdseq=1, state="offline")
    assert w.value("sessionbeat_sessions", host="mac", repo="r", status="offline") == 1
    assert w.value("sessionbeat_sessions", host="mac", repo="r", status="working") == 0


def test_oldest_approval_wait_per_host() -> None:
    """The wait gauge is the longest needs_approval wait of each host, 0 where none waits."""
    w = World()
    w.birth("mac")
    w.birth("kai-server")
    w.beat("mac", SID_A, "needs_approval", repo="r", event="PermissionRequest", tool="Bash")
    w.now = at(40)
    w.beat("mac", SID_B, "needs_approval", repo="r", event="PermissionRequest", tool="Edit")
    w.beat("kai-server", SID_C, "working", repo="r", event="PreToolUse")
    w.now = at(100)
    assert w.value("sessionbeat_approval_oldest_wait_seconds", host="mac") == 100
    assert w.value("sessionbeat_approval_oldest_wait_seconds", host="kai-server") == 0


def test_approval_wait_resets_when_approved() -> None:
    """Once the waiting session works again, its wait no longer counts."""
    w = World()
    w.beat("mac", SID_A, "needs_approval", repo="r", event="PermissionRequest")
    w.now = at(30)
    w.beat("mac", SID_A, "working", repo="r", event="PostToolUse")
    w.now = at(60)
    assert w.value("sessionbeat_approval_oldest_wait_seconds", host="mac") == 0


def test_subagents_running_counts_live_sessions_only() -> None:
    """Subagents of working sessions add up per host; an ended session's do not count."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r", event="SubagentStart", subagents=2)
    w.beat("mac", SID_B, "working", repo="r", event="SubagentStart", subagents=1)
    w.beat("mac", SID_C, "ended", repo="r", event="SessionEnd", subagents=3, end_reason="other")
    assert w.value("sessionbeat_subagents_running", host="mac") == 3


def test_context_usage_distribution_and_max() -> None:
    """Context ratios fill the per-host gauge histogram; the max gauge is the largest ratio."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r", context_tokens=20_000, context_window=200_000)
    w.beat("mac", SID_B, "working", repo="r", context_tokens=180_000, context_window=200_000)
    w.beat("mac", SID_C, "working", repo="r")  # no context known: not in the distribution
    name = "sessionbeat_context_usage_ratio_bucket"
    assert w.value(name, host="mac", le="0.25") == 1
    assert w.value(name, host="mac", le="0.75") == 1
    assert w.value(name, host="mac", le="0.9") == 2
    assert w.value(name, host="mac", le="+Inf") == 2
    assert w.value("sessionbeat_context_usage_ratio_gcount", host="mac") == 2
    assert w.value("sessionbeat_context_usage_ratio_gsum", host="mac") == pytest.approx(1.0)
    assert w.value("sessionbeat_context_usage_max_ratio", host="mac") == pytest.approx(0.9)


def test_message_counters_and_rejections_by_reason() -> None:
    """Received/accepted count every message; each reject reason has its own zero-filled series."""
    w = World()
    w.birth("mac")
    w.send("sessionbeat/v1/mac/sessions/" + SID_A, b"{not json")
    w.send("sessionbeat/v1/mac/sessions/" + SID_A, _json({"v": 1, "host": "win"}))
    w.send("other/topic", b"{}")
    assert w.value("sessionbeat_messages_received_total") == 4
    assert w.value("sessionbeat_messages_accepted_total") == 1
    assert w.value("sessionbeat_messages_rejected_total", reason="bad_json") == 1
    assert w.value("sessionbeat_messages_rejected_total", reason="bad_topic") == 1
    assert w.value("sessionbeat_messages_rejected_total", reason="schema") == 1
    assert w.value("sessionbeat_messages_rejected_total", reason="too_large") == 0


def test_out_of_order_beats_counted() -> None:
    """A beat older than the applied one is counted as out of order."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r", seq=10)
    w.beat("mac", SID_A, "working", repo="r", seq=3)
    assert w.value("sessionbeat_messages_out_of_order_total") == 1


def test_reaped_sessions_counted_by_reason() -> None:
    """Sessions reaped after ended_linger / reap_after show up under reason ended / expired."""
    w = World()
    w.beat("mac", SID_A, "ended", repo="r", event="SessionEnd", end_reason="prompt_input_exit")
    w.beat("mac", SID_B, "working", repo="r", event="PreToolUse")
    assert w.value("sessionbeat_sessions_reaped_total", reason="ended") == 0
    expire(w.state, at(w.state.timings.ended_linger + 1))
    expire(w.state, at(w.state.timings.reap_after + 1))
    assert w.value("sessionbeat_sessions_reaped_total", reason="ended") == 1
    assert w.value("sessionbeat_sessions_reaped_total", reason="expired") == 1


def test_cleared_topic_counts_as_removed() -> None:
    """A zero-length retained payload removes the session and counts it."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r")
    w.send(topics.session_topic("mac", SID_A), b"", retained=True)
    assert w.value("sessionbeat_sessions_removed_total") == 1
    assert w.value("sessionbeat_sessions", host="mac", repo="r", status="working") is None


def test_hook_events_by_name_with_unknown_names_folded() -> None:
    """Hook events count per documented event name; an undocumented name counts as other."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r", event="PreToolUse")
    w.now = at(1)
    w.beat("mac", SID_A, "working", repo="r", event="PostToolUse")
    w.now = at(2)
    w.beat("mac", SID_A, "working", repo="r", event="PreToolUse")
    w.now = at(3)
    w.beat("mac", SID_A, "working", repo="r", event="x" * 40)
    assert w.value("sessionbeat_hook_events_total", event="PreToolUse") == 2
    assert w.value("sessionbeat_hook_events_total", event="PostToolUse") == 1
    assert w.value("sessionbeat_hook_events_total", event="other") == 1


def test_broker_connection_and_last_message_time() -> None:
    """broker_connected mirrors the service's flag; last_message appears with the first message."""
    w = World(broker_connected=False)
    assert w.value("sessionbeat_broker_connected") == 0
    assert w.value("sessionbeat_last_message_timestamp_seconds") is None
    w.now = at(7)
    w.birth("mac")
    w.broker_connected = True
    w.now = at(20)
    assert w.value("sessionbeat_broker_connected") == 1
    assert w.value("sessionbeat_last_message_timestamp_seconds") == at(7).timestamp()
    assert w.value("sessionbeat_snapshot_timestamp_seconds") == at(20).timestamp()


def test_build_info_carries_the_version() -> None:
    """build_info is 1 with the package version (or the one passed in) as a label."""
    registry = CollectorRegistry()
    state = AggregatorState()
    registry.register(SessionbeatCollector(lambda: take_snapshot(state, T0, True), version="9.9.9"))
    text = generate_latest(registry).decode()
    assert 'sessionbeat_build_info{python_version="' in text
    assert 'version="9.9.9"} 1.0' in text
    assert __version__ != "9.9.9"


def test_registering_twice_is_refused() -> None:
    """describe() names the metrics, so a second collector in one registry is a clash."""
    w = World()
    with pytest.raises(DuplicateTimeseries):
        w.registry.register(SessionbeatCollector(w.snapshot))


def test_describe_does_not_take_a_snapshot() -> None:
    """Registering needs no running aggregator: describe() never calls the snapshot function."""
    calls: list[int] = []

    def snapshot() -> StateSnapshot:
        calls.append(1)
        return take_snapshot(AggregatorState(), T0, True)

    CollectorRegistry().register(SessionbeatCollector(snapshot))
    assert calls == []


def test_exposition_passes_promtool_lint() -> None:
    """Promtool check metrics finds no naming or type problem in a full exposition."""
    promtool = require_tool("promtool")
    w = World(notify=notify_on())
    w.birth("mac")
    w.beat(
        "mac",
        SID_A,
        "needs_approval",
        repo="r",
        event="PermissionRequest",
        context_tokens=1000,
        context_window=200_000,
        subagents=1,
    )
    expire(w.state, at(1))
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=generate_latest(w.registry),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == ""


def test_docs_list_every_metric() -> None:
    """docs/metrics.md has a table row for every metric the collector exports, and no other."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    documented = set(re.findall(r"^\| `(sessionbeat_\w+)` \|", doc, flags=re.MULTILINE))
    families = SessionbeatCollector(lambda: take_snapshot(AggregatorState(), T0, True)).describe()
    exported = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert documented == exported


def test_overlong_repo_name_is_cut_in_the_label() -> None:
    """A host-supplied repository name longer than 100 characters is cut to 100 in the label."""
    w = World()
    w.beat("mac", SID_A, "working", repo="r" * 5000)
    assert w.value("sessionbeat_sessions", host="mac", repo="r" * 100, status="working") == 1


def test_live_sessions_are_counted_per_claude_code_version() -> None:
    """Versions from the registry count live sessions; none is unknown, junk is other."""
    w = World()
    w.beat("mac", SID_A, "working", claude_version="2.1.328")
    w.beat("mac", SID_B, "needs_approval", claude_version="2.1.328")
    w.beat("pc", SID_C, "waiting_for_input")
    w.beat("pc", "d00d0000-1111-4222-8333-444455556666", "working", claude_version="x" * 300)
    w.beat("pc", "e00e0000-1111-4222-8333-444455556666", "ended", claude_version="2.1.300")
    assert w.value("sessionbeat_claude_code_sessions", version="2.1.328") == 2
    assert w.value("sessionbeat_claude_code_sessions", version="unknown") == 1
    assert w.value("sessionbeat_claude_code_sessions", version="other") == 1
    assert w.value("sessionbeat_claude_code_sessions", version="2.1.300") is None  # ended


def test_notifications_off_are_exported_as_zeros() -> None:
    """Without a notifier, enabled is 0 and approvals' sent/failed counters read 0, not gaps."""
    w = World()
    assert w.value("sessionbeat_notifications_enabled") == 0
    assert w.value("sessionbeat_notifications_pending") == 0
    for result in ("sent", "failed"):
        labels = {"kind": "needs_approval", "result": result}
        assert w.value("sessionbeat_notifications_total", **labels) == 0
    assert w.value("sessionbeat_notification_latency_seconds_bucket", le="+Inf") == 0
    assert w.value("sessionbeat_notification_latency_seconds_count") == 0


def test_notifications_counted_by_kind_and_result() -> None:
    """Each kind that is on has sent and failed series from 0; the notifier's counts show."""
    w = World(notify=notify_on())
    assert w.value("sessionbeat_notifications_enabled") == 1
    assert w.value("sessionbeat_notifications_pending") == 1

    def total(kind: str, result: str) -> float | None:
        return w.value("sessionbeat_notifications_total", kind=kind, result=result)

    assert (total("needs_approval", "sent"), total("needs_approval", "failed")) == (2, 1)
    assert total("needs_approval", "withdrawn") == 1
    assert (total("turn_finished", "sent"), total("turn_finished", "failed")) == (0, 0)
    assert total("host_offline", "sent") is None  # off: no series
    w.notify = notify_on(counts={"test": {"sent": 1}}, kinds=[NotifyKind.NEEDS_APPROVAL])
    assert total("test", "sent") == 1
    assert total("needs_approval", "failed") == 0
    assert total("turn_finished", "sent") is None


def test_notification_latency_is_a_histogram() -> None:
    """Cumulative buckets, +Inf equal to the count, and the sum, in seconds; no labels."""
    w = World(notify=notify_on(latency_buckets=[(5.0, 2), (1.0, 1), (float("inf"), 9)]))
    buckets = {
        le: w.value("sessionbeat_notification_latency_seconds_bucket", le=le)
        for le in ("1.0", "5.0", "+Inf")
    }
    assert buckets == {"1.0": 1, "5.0": 2, "+Inf": 2}
    assert w.value("sessionbeat_notification_latency_seconds_sum") == 4.5
    assert w.value("sessionbeat_notification_latency_seconds_count") == 2
