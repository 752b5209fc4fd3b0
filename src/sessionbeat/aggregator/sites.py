"""Sites joined by Mosquitto bridges: their link notifications and the hosts they hide.

A site (an office, a cloud account) runs its own Mosquitto, bridged to the central broker the
aggregator reads (mosquitto/bridge.conf; docs/deployment.md, "Sites and bridges"). The site
broker's bridge publishes a retained ``1`` on ``sessionbeat/sites/<site>/bridge`` when it
connects and leaves a retained ``0`` Last Will on the central broker (Mosquitto's
``notifications``/``notification_topic``). A host whose ``HostStatus.site`` names a site whose
last notification is ``0`` cannot be seen: it shows ``unreachable`` (not ``offline``), and its
sessions too, until the site's ``1``. Measured behaviour of Mosquitto: docs/architecture.md,
"Sites and bridges". Pure helpers over the state's records; :mod:`sessionbeat.aggregator.state`
applies them.
"""

from __future__ import annotations

from datetime import datetime

from sessionbeat import topics
from sessionbeat.aggregator.records import (
    AggregatorState,
    Applied,
    HostRecord,
    Message,
    Outcome,
    SiteLink,
)
from sessionbeat.errors import PayloadError, RejectReason, TopicError
from sessionbeat.models import HostState


def parse_notification(payload: bytes) -> bool:
    """Return True for ``b"1"`` (the bridge is connected), False for ``b"0"`` (it is not).

    Mosquitto's bridge notifications are exactly these one-byte payloads; anything else
    raises ``PayloadError`` with reason ``bad_notification``.
    """
    if payload == b"1":
        return True
    if payload == b"0":
        return False
    raise PayloadError(
        RejectReason.BAD_NOTIFICATION, f"bridge notification {payload[:20]!r} is neither 0 nor 1"
    )


def note(state: AggregatorState, site: str, up: bool, retained: bool, now: datetime) -> bool | None:
    """Record a site's notification at ``now`` (aggregator clock); newest wins.

    A retained replay (a cold start, a resubscription) is older than any live notification
    already applied, so it is ignored then: returns None. Otherwise returns True if the site's
    state changed (a first notification counts as a change) and False if it was already so.
    """
    link = state.sites.get(site)
    if link is None:
        state.sites[site] = SiteLink(up, now, not retained)
        return True
    if retained and link.live:
        return None
    link.live = link.live or not retained
    if link.up is up:
        return False
    link.up = up
    link.since = now
    return True


def site_of(host: HostRecord) -> str | None:
    """Return the site a host's last status message named (None: none, or no status yet)."""
    status = host.status
    return None if status is None else status.site


def site_down(state: AggregatorState, site: str | None) -> bool:
    """Return True if ``site``'s last notification said its bridge is down.

    A site-less host (``None``) or a site never heard of is not down: it behaves as before
    sites existed.
    """
    if site is None:
        return False
    link = state.sites.get(site)
    return link is not None and not link.up


def mark(state: AggregatorState, host: HostRecord, now: datetime) -> bool:
    """Set or clear ``host.unreachable_since`` from its site's link; True if it changed."""
    down = site_down(state, site_of(host))
    if down and host.unreachable_since is None:
        host.unreachable_since = now
        return True
    if not down and host.unreachable_since is not None:
        host.unreachable_since = None
        return True
    return False


def host_state(host: HostRecord | None) -> HostState | None:
    """Return the state the API shows for a host: ``unreachable`` while its site is down.

    Otherwise what its last status message said (None for a host never heard of or known only
    from its sessions).
    """
    if host is None:
        return None
    if host.unreachable_since is not None:
        return HostState.UNREACHABLE
    return host.state


def host_since(host: HostRecord | None) -> datetime | None:
    """Return when the state :func:`host_state` shows began (aggregator clock), or None."""
    if host is None:
        return None
    return host.unreachable_since or host.since


def describe(host: HostRecord | None) -> str | None:
    """Return why a host is unreachable in words, e.g. ``"site office link down"``, else None."""
    if host is None or host.unreachable_since is None:
        return None
    return f"site {site_of(host)} link down"


def apply_notification(
    state: AggregatorState, message: Message, now: datetime
) -> tuple[Applied, set[str], str]:
    """Apply one message of ``sessionbeat/sites/<site>/bridge`` to ``state`` at ``now``.

    Returns what happened (accepted; ``removed`` for a zero-length payload, which forgets the
    site; ``out_of_order`` for a retained replay older than what is known; rejected with
    ``bad_topic`` or ``bad_notification``, counted), the ids of the hosts whose visibility
    changed, and the cause for their sessions' timelines (``"site office down"``). When a site
    is back, its hosts' sessions have ``last_seen`` moved up to ``now``: their stale and reap
    clocks restart from the moment we can see them again. The caller re-derives the statuses
    of those hosts' sessions.
    """
    counters = state.counters
    try:
        site = topics.parse_bridge(message.topic)
        assert site is not None
        up = parse_notification(message.payload) if message.payload else True
    except (TopicError, PayloadError) as exc:
        reason = exc.reason if isinstance(exc, PayloadError) else RejectReason.BAD_TOPIC
        counters.rejected[reason] += 1
        return Applied(Outcome.REJECTED, reason=reason, detail=str(exc)), set(), ""
    if message.payload:
        noted = note(state, site, up, message.retained, now)
        if noted is None:
            counters.out_of_order += 1
            return Applied(Outcome.OUT_OF_ORDER), set(), ""
        outcome = Outcome.ACCEPTED
    else:
        noted = state.sites.pop(site, None) is not None
        outcome = Outcome.REMOVED
    counters.accepted += 1
    moved: set[str] = set()
    if noted:
        moved = {
            name
            for name, host in state.hosts.items()
            if site_of(host) == site and mark(state, host, now)
        }
        if up and moved:
            for host_id in moved:
                for sid in state.index.by_host.get(host_id, ()):
                    session = state.sessions[(host_id, sid)]
                    if session.last_seen < now:
                        session.last_seen = now
    return Applied(outcome), moved, f"site {site} {'up' if up else 'down'}"
