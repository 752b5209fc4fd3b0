"""Sites joined by bridges in the pure core: notifications, unreachable hosts, their sessions."""

from __future__ import annotations

from datetime import datetime

import pytest

from sessionbeat import topics
from sessionbeat.aggregator import sites
from sessionbeat.aggregator.state import (
    AggregatorState,
    Message,
    Outcome,
    Timings,
    apply,
    effective_status,
    expire,
)
from sessionbeat.errors import RejectReason
from sessionbeat.models import HostState, HostStatus, PublishedStatus, SessionStatus
from tests.aggregator.support import T0, at, beat
from tests.aggregator.support import beat_message as msg

TIMINGS = Timings(stale_after=120, idle_after=300, reap_after=1800, ended_linger=300)
SITE = "office"
H = "dev-1"


def bridge(payload: bytes, site: str = SITE, retained: bool = False) -> Message:
    return Message(topics.bridge_topic(site), payload, retained)


def birth(host: str = H, site: str | None = SITE, bdseq: int = 1, state: str = "online") -> Message:
    status = HostStatus(host=host, state=HostState(state), bdseq=bdseq, sent_at=T0, site=site)
    return Message(topics.status_topic(host), status.model_dump_json(exclude_none=True).encode())


def status_of(state: AggregatorState, sid: str, now: datetime, host: str = H) -> SessionStatus:
    record = state.sessions[(host, sid)]
    return effective_status(record, state.hosts.get(host), now, state.timings)


def host_state(state: AggregatorState, host: str = H) -> HostState | None:
    return sites.host_state(state.hosts.get(host))


@pytest.fixture
def state() -> AggregatorState:
    s = AggregatorState(timings=TIMINGS)
    apply(s, birth(), at(0))
    apply(s, msg(beat(H, "s1", seq=1)), at(1))
    apply(s, bridge(b"1"), at(2))
    return s


def test_bridge_down_makes_host_and_sessions_unreachable(state: AggregatorState) -> None:
    """A site's `0` shows its host `unreachable` and its sessions too, with the cause logged."""
    assert apply(state, bridge(b"0"), at(10)).outcome is Outcome.ACCEPTED
    assert host_state(state) is HostState.UNREACHABLE
    assert status_of(state, "s1", at(10)) is SessionStatus.UNREACHABLE
    record = state.sessions[(H, "s1")]
    assert record.effective is SessionStatus.UNREACHABLE
    assert record.timeline[-1].event == "site office down"
    assert sites.describe(state.hosts[H]) == "site office link down"


def test_bridge_up_again_restores_the_published_state(state: AggregatorState) -> None:
    """After the site's `1` the host is `online` again and its session shows its own status."""
    apply(state, bridge(b"0"), at(10))
    apply(state, bridge(b"1"), at(20))
    assert host_state(state) is HostState.ONLINE
    assert status_of(state, "s1", at(20)) is SessionStatus.WORKING
    assert [c.status for c in state.sessions[(H, "s1")].timeline][-2:] == [
        SessionStatus.UNREACHABLE,
        SessionStatus.WORKING,
    ]


def test_offline_host_stays_offline_while_unreachable(state: AggregatorState) -> None:
    """Precedence: a session of an offline host shows offline even when its site is down."""
    apply(state, birth(state="offline"), at(5))
    apply(state, bridge(b"0"), at(10))
    assert status_of(state, "s1", at(10)) is SessionStatus.OFFLINE
    assert host_state(state) is HostState.UNREACHABLE


@pytest.mark.parametrize("payload", [b"2", b"true", b"01", b" 1", b"offline", b"\xff"])
def test_bad_notification_is_rejected_and_counted(state: AggregatorState, payload: bytes) -> None:
    """A bridge payload other than `0`/`1` is refused with its own reason and changes nothing."""
    applied = apply(state, bridge(payload), at(10))
    assert applied.outcome is Outcome.REJECTED
    assert applied.reason is RejectReason.BAD_NOTIFICATION
    assert state.counters.rejected[RejectReason.BAD_NOTIFICATION] == 1
    assert host_state(state) is HostState.ONLINE


def test_bad_sites_topic_is_rejected(state: AggregatorState) -> None:
    """A topic under sessionbeat/sites/ of another shape is refused as a bad topic."""
    applied = apply(state, Message("sessionbeat/sites/office/other", b"1"), at(10))
    assert applied.reason is RejectReason.BAD_TOPIC


def test_late_retained_zero_does_not_override_a_live_one(state: AggregatorState) -> None:
    """A retained `0` replayed after a live `1` is older: ignored, the host stays visible."""
    applied = apply(state, bridge(b"0", retained=True), at(10))
    assert applied.outcome is Outcome.OUT_OF_ORDER
    assert host_state(state) is HostState.ONLINE


def test_retained_zero_on_cold_start_marks_hosts(state: AggregatorState) -> None:
    """On a cold start the retained `0` (no live word yet) hides the site's hosts."""
    fresh = AggregatorState(timings=TIMINGS)
    apply(fresh, birth(), at(0))
    apply(fresh, bridge(b"0", retained=True), at(1))
    assert host_state(fresh) is HostState.UNREACHABLE
    apply(fresh, bridge(b"1"), at(2))
    assert host_state(fresh) is HostState.ONLINE


def test_siteless_and_other_site_hosts_are_untouched(state: AggregatorState) -> None:
    """Hosts without a site, or at another site, keep their state when one site goes down."""
    apply(state, birth("lone", site=None), at(3))
    apply(state, birth("far", site="cloud"), at(3))
    apply(state, msg(beat("lone", "s2")), at(3))
    apply(state, bridge(b"0"), at(10))
    assert host_state(state, "lone") is HostState.ONLINE
    assert host_state(state, "far") is HostState.ONLINE
    assert status_of(state, "s2", at(10), "lone") is SessionStatus.WORKING


def test_host_of_a_site_never_notified_behaves_as_before() -> None:
    """A host naming a site that never sent a notification goes stale as usual."""
    s = AggregatorState(timings=TIMINGS)
    apply(s, birth(site="nowhere"), at(0))
    apply(s, msg(beat(H, "s1")), at(0))
    assert host_state(s) is HostState.ONLINE
    assert status_of(s, "s1", at(200)) is SessionStatus.STALE


def test_host_status_naming_a_down_site_is_unreachable(state: AggregatorState) -> None:
    """A host whose status arrives while its site is down is shown unreachable at once."""
    apply(state, bridge(b"0"), at(10))
    apply(state, birth("dev-2"), at(11))
    assert host_state(state, "dev-2") is HostState.UNREACHABLE


def test_unreachable_sessions_are_not_stale_nor_reaped(state: AggregatorState) -> None:
    """While its site is down a session neither turns stale nor is reaped, however long."""
    apply(state, bridge(b"0"), at(10))
    assert expire(state, at(5000)) == []
    assert status_of(state, "s1", at(5000)) is SessionStatus.UNREACHABLE
    apply(state, msg(beat(H, "s3", status=PublishedStatus.ENDED)), at(4))
    assert expire(state, at(9000)) == []


def test_clocks_restart_when_the_site_is_back(state: AggregatorState) -> None:
    """Back from a long outage, a session has stale_after/reap_after from then, not before."""
    apply(state, bridge(b"0"), at(10))
    apply(state, bridge(b"1"), at(5000))
    assert status_of(state, "s1", at(5001)) is SessionStatus.WORKING
    assert status_of(state, "s1", at(5000 + 121)) is SessionStatus.STALE
    assert expire(state, at(5000 + 1700)) == []
    reaped = expire(state, at(5000 + 1800))
    assert [r.reason for r in reaped] == ["expired"]


def test_cleared_notification_forgets_the_site(state: AggregatorState) -> None:
    """A zero-length payload on the bridge topic forgets the site: its hosts are seen again."""
    apply(state, bridge(b"0"), at(10))
    assert apply(state, bridge(b""), at(11)).outcome is Outcome.REMOVED
    assert SITE not in state.sites
    assert host_state(state) is HostState.ONLINE


def test_beats_sent_during_the_outage_apply_in_order(state: AggregatorState) -> None:
    """Queued beats delivered after the `1` are applied in seq order; older ones ignored."""
    apply(state, bridge(b"0"), at(10))
    apply(state, bridge(b"1"), at(20))
    for seq, status in ((2, "needs_approval"), (3, "working"), (4, "waiting_for_input")):
        apply(state, msg(beat(H, "s1", seq=seq, status=status)), at(20 + seq))
    assert apply(state, msg(beat(H, "s1", seq=3)), at(30)).outcome is Outcome.OUT_OF_ORDER
    statuses = [c.status for c in state.sessions[(H, "s1")].timeline]
    assert statuses[-3:] == [
        SessionStatus.NEEDS_APPROVAL,
        SessionStatus.WORKING,
        SessionStatus.WAITING_FOR_INPUT,
    ]


def test_wire_refuses_a_published_unreachable() -> None:
    """`unreachable` is derived: a host status saying it on the wire is a schema error."""
    s = AggregatorState(timings=TIMINGS)
    payload = b'{"v":1,"host":"dev-1","state":"unreachable","bdseq":1}'
    applied = apply(s, Message(topics.status_topic(H), payload), at(0))
    assert applied.reason is RejectReason.SCHEMA


def test_old_agent_status_without_site_is_accepted() -> None:
    """A status without `site` (agents before it) is accepted: the host has no site."""
    s = AggregatorState(timings=TIMINGS)
    payload = b'{"v":1,"host":"dev-1","state":"online","bdseq":1}'
    assert apply(s, Message(topics.status_topic(H), payload), at(0)).outcome is Outcome.ACCEPTED
    assert sites.site_of(s.hosts[H]) is None


def test_site_mirror_topic() -> None:
    """The clear sent back to a site broker lives under sessionbeat/sites/<site>/v1/."""
    topic = topics.session_topic(H, "s1")
    assert topics.site_mirror(SITE, topic) == "sessionbeat/sites/office/v1/dev-1/sessions/s1"
    assert topics.parse_bridge(topics.bridge_topic(SITE)) == SITE
    assert topics.parse_bridge(topic) is None
