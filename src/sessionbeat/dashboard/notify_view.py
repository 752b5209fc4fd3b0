"""The page's push-notification line, as a pure function of ``GET /notify`` (no Streamlit, no I/O).

One short line under the summary says whether pushes reach the phone: on (which services, when
the last went out), failing (when, and the error the service gave), or off (and what turns them
on). The page shows it as HTML text with ``esc()`` (escaped, control and bidi characters
removed, never Markdown, so a URL in an error is no link); this module returns plain text.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from sessionbeat.models import NotifyStatus
from sessionbeat.readers.render import (
    NOTIFY_HINT,
    NOTIFY_VAR,
    notify_failing,
    notify_services,
    safe_text,
)

ERROR_CHARS = 120
"""Characters of a delivery error the line keeps (a phone shows two lines of it at 390 px)."""


def notify_line(status: NotifyStatus | None, tz: tzinfo = UTC) -> str | None:
    """Return the notification line for ``status``, times as ``HH:MM`` in ``tz``; None: no line.

    ``None`` (the page could not read ``GET /notify``, e.g. an older aggregator's 404) gives
    no line. Off: ``"🔕 Notifications off (set SESSIONBEAT_NOTIFY_URLS)"``, or
    ``"🔕 Notifications off: 2 invalid URL(s) in SESSIONBEAT_NOTIFY_URLS"`` when none parsed. On:
    ``"🔔 Notifications on (ntfy, json) · last sent 14:02"``, with ``quiet hours``, the
    pending count and invalid URLs added when there are any. When the last delivery failed
    (:func:`~sessionbeat.readers.render.notify_failing`):
    ``"🔔 Notifications: last delivery failed 14:03: <error>"``, the error cut to
    :data:`ERROR_CHARS`.
    """
    if status is None:
        return None
    if not status.enabled:
        if status.invalid:
            return f"🔕 Notifications off: {len(status.invalid)} invalid URL(s) in {NOTIFY_VAR}"
        return f"🔕 Notifications off ({NOTIFY_HINT})"
    if notify_failing(status):
        when = status.last_error_at
        at = f" {when.astimezone(tz):%H:%M}" if when is not None else ""
        error = " ".join(safe_text(status.last_error or "").split())
        if len(error) > ERROR_CHARS:
            error = error[: ERROR_CHARS - 1] + "…"
        return f"🔔 Notifications: last delivery failed{at}: {error}"
    services = ", ".join(notify_services(status))
    parts = [f"🔔 Notifications on ({services})" if services else "🔔 Notifications on"]
    if status.last_sent_at is not None:
        parts.append(f"last sent {status.last_sent_at.astimezone(tz):%H:%M}")
    if status.quiet_now:
        parts.append("quiet hours")
    if status.pending:
        parts.append(f"{status.pending} pending")
    if status.invalid:
        parts.append(f"⚠ {len(status.invalid)} invalid URL(s)")
    return " · ".join(parts)
