"""What the notifier may send and when: kinds, filters, quiet hours, grace and rate limit.

Built once from the :class:`~sessionbeat.settings.Settings` (``notify_*``) and handed to the
pure rules (:mod:`sessionbeat.notifier.rules`). Durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo

from sessionbeat.models import NotifyKind
from sessionbeat.settings import Settings, quiet_hours


def _local_zone() -> tzinfo:
    """Return this machine's time zone (a fixed offset if it has no IANA name)."""
    zone = datetime.now().astimezone().tzinfo
    return zone if zone is not None else UTC


@dataclass(frozen=True)
class Policy:
    """The notifier's rules in one immutable value.

    ``grace``: seconds a condition must last before it is sent (``offline_grace`` for hosts);
    ``batch_window``: episodes falling due within this many seconds of the first go out with it;
    ``turn_finished_after`` / ``stuck_after``: seconds, None turns the kind off;
    ``hosts`` / ``repos``: shell-style globs (empty: all); ``quiet``: (start, end) local times
    in ``zone`` during which nothing is sent (what falls due waits for the end);
    ``session_interval``: seconds between two messages about one session at least.
    """

    grace: float = 5.0
    batch_window: float = 1.0
    needs_approval: bool = True
    turn_finished_after: float | None = None
    host_offline: bool = False
    offline_grace: float = 60.0
    stuck_after: float | None = None
    hosts: tuple[str, ...] = ()
    repos: tuple[str, ...] = ()
    quiet: tuple[time, time] | None = None
    zone: tzinfo = field(default=UTC)
    session_interval: float = 60.0
    answered_followup: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        """Return the policy the ``notify_*`` settings describe (already validated there)."""
        return cls(
            grace=settings.notify_grace,
            batch_window=settings.notify_batch_window,
            needs_approval=settings.notify_needs_approval,
            turn_finished_after=settings.notify_turn_finished_after,
            host_offline=settings.notify_host_offline,
            offline_grace=settings.notify_offline_grace,
            stuck_after=settings.notify_stuck_after,
            hosts=tuple(settings.notify_hosts),
            repos=tuple(settings.notify_repos),
            quiet=quiet_hours(settings.notify_quiet_hours) if settings.notify_quiet_hours else None,
            zone=ZoneInfo(settings.notify_timezone) if settings.notify_timezone else _local_zone(),
            session_interval=settings.notify_session_interval,
            answered_followup=settings.notify_answered_followup,
        )

    @property
    def kinds(self) -> list[NotifyKind]:
        """Return the kinds switched on, in a fixed order."""
        on = {
            NotifyKind.NEEDS_APPROVAL: self.needs_approval,
            NotifyKind.TURN_FINISHED: self.turn_finished_after is not None,
            NotifyKind.HOST_OFFLINE: self.host_offline,
            NotifyKind.STUCK: self.stuck_after is not None,
        }
        return [kind for kind, enabled in on.items() if enabled]

    def allows(self, host: str, repo: str | None) -> bool:
        """Return True when the host and repo filters let a message about them through.

        A session outside any repository (``repo`` None) passes only when no repo filter is set.
        """
        if self.hosts and not any(fnmatchcase(host, pattern) for pattern in self.hosts):
            return False
        if self.repos:
            return repo is not None and any(fnmatchcase(repo, pattern) for pattern in self.repos)
        return True

    def quiet_until(self, now: datetime) -> datetime | None:
        """Return when the quiet hours around ``now`` end (aware UTC), or None outside them.

        ``now`` is aware; the span is read in :attr:`zone` and may cross midnight.
        """
        if self.quiet is None:
            return None
        start, end = self.quiet
        local = now.astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
        if not inside:
            return None
        day = local.date() if clock < end else local.date() + timedelta(days=1)
        ends = datetime.combine(day, end, tzinfo=self.zone)
        return ends.astimezone(UTC)
