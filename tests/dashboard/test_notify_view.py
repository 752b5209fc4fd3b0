"""The page's push-notification line for each state of the notifier (a table of cases)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from sessionbeat.dashboard.notify_view import ERROR_CHARS, notify_line
from sessionbeat.models import NotifyStatus
from tests.aggregator.support import T0, notify_on

SENT = T0.replace(hour=14, minute=2)
"""When :func:`notify_on`'s services last sent."""
LATER = SENT + timedelta(minutes=1)
EARLIER = SENT - timedelta(minutes=1)

CASES = [
    ("unreadable", None, None),
    ("off", NotifyStatus(enabled=False), "🔕 Notifications off (set SESSIONBEAT_NOTIFY_URLS)"),
    (
        "off, every URL invalid",
        NotifyStatus(enabled=False, invalid=["foo://x: unknown service"]),
        "🔕 Notifications off: 1 invalid URL(s) in SESSIONBEAT_NOTIFY_URLS",
    ),
    (
        "on, no pending",
        notify_on(pending=0),
        "🔔 Notifications on (ntfy, json) · last sent 14:02",
    ),
    (
        "on, nothing sent yet, a duplicate service",
        notify_on(last_sent_at=None, pending=0, targets=notify_on().targets * 2),
        "🔔 Notifications on (ntfy, json)",
    ),
    (
        "on, quiet, pending, an invalid URL",
        notify_on(quiet_now=True, invalid=["x"]),
        "🔔 Notifications on (ntfy, json) · last sent 14:02 · quiet hours · 1 pending"
        " · ⚠ 1 invalid URL(s)",
    ),
    (
        "last delivery failed",
        notify_on(last_error="ntfy: HTTP 500", last_error_at=LATER),
        "🔔 Notifications: last delivery failed 14:03: ntfy: HTTP 500",
    ),
    (
        "an older error, sent since",
        notify_on(last_error="ntfy: HTTP 500", last_error_at=EARLIER, pending=0),
        "🔔 Notifications on (ntfy, json) · last sent 14:02",
    ),
    (
        "failed before anything was sent, error without a time",
        notify_on(last_sent_at=None, last_error="json: timed out"),
        "🔔 Notifications: last delivery failed: json: timed out",
    ),
    (
        "an error with a newline and a bidi override",
        notify_on(last_error="bad\nthing\u202eevil", last_error_at=LATER),
        "🔔 Notifications: last delivery failed 14:03: bad thingevil",
    ),
]


@pytest.mark.parametrize(("status", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_notify_line(status: NotifyStatus | None, line: str | None) -> None:
    """Each notifier state reads as one short line (times in UTC here); unreadable: no line."""
    assert notify_line(status) == line


def test_times_are_in_the_readers_zone() -> None:
    """The phone reads its own time: 14:02 UTC is 16:02 in Berlin in June."""
    line = notify_line(notify_on(), ZoneInfo("Europe/Berlin"))
    assert line is not None and "last sent 16:02" in line


def test_a_long_error_is_cut() -> None:
    """A service's long error is cut with an ellipsis so the line stays two lines on a phone."""
    line = notify_line(notify_on(last_error="x" * 1000, last_error_at=LATER))
    assert line is not None and line.endswith("x…")
    assert len(line.split(": ", 1)[1].split(": ", 1)[1]) == ERROR_CHARS
