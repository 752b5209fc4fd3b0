"""The running notifier: a thread fed by the aggregator's change feed, deliveries on a pool.

Thread model:

* :meth:`Notifier.push` is the change feed's sink (the same changes that feed ``GET /events``):
  called on the ingest thread under the aggregator's lock, it only records *which* session or
  host changed (one dict entry, coalesced), so ingest does not slow down.
* The notifier thread wakes on a change (at most every :data:`MIN_PASS_INTERVAL` seconds, so a
  flood coalesces) or when an episode falls due, renders the changed keys through ``render``
  (the aggregator's ``render_changes``), feeds the pure :class:`~.rules.Rules` and carries out
  what they return: ledger rows, then deliveries.
* Deliveries and withdrawals run on a small thread pool (:data:`WORKERS`), each retried with
  backoff (:func:`~.delivery.attempt`); a hanging or failing service never blocks the notifier
  thread, let alone ingest. A withdrawal runs after its batch's delivery ends and cancels the
  delivery's remaining retries.

With more than one aggregator, every notifier runs the rules but only the one whose
aggregator holds the reaper lease delivers and withdraws (:mod:`~.standby`).

Counting: :meth:`Notifier.status` returns a :class:`~sessionbeat.models.NotifyStatus` (the API's
``GET /notify``, the page and ``sessionbeat_notifications_total``). A failure streak of one
target is logged once at WARNING (with its redacted URL and reason), its end once at INFO.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sessionbeat.errors import NotifyDeliveryError
from sessionbeat.models import (
    HostView,
    NotifyKind,
    NotifyStatus,
    NotifyTarget,
    SessionRemoved,
    SessionView,
    utc_now,
)
from sessionbeat.notifier import messages
from sessionbeat.notifier.delivery import Outcome, Result, attempt
from sessionbeat.notifier.ledger import Ledger
from sessionbeat.notifier.policy import Policy
from sessionbeat.notifier.rules import Action, Closed, Filtered, Rules, Send, Withdraw
from sessionbeat.notifier.standby import Standby
from sessionbeat.notifier.targets import Target, build_targets
from sessionbeat.settings import Settings

log = logging.getLogger(__name__)

MIN_PASS_INTERVAL = 0.5
"""Seconds between two passes over changes at least (unless an episode falls due sooner): a
flood of beats coalesces per key. Measured (bench/bench_notify.py, 30,000 beats): ingest with
the notifier attached ran at 0.89 of the rate without it at 0.1 s, 0.97 at 0.5 s."""
IDLE_WAKE = 1.0
"""Seconds the notifier thread sleeps at most (quiet hours ending, stuck scans)."""
SCAN_INTERVAL = 15.0
"""Seconds between two scans for stuck sessions (only when that kind is on)."""
RECONCILE_AFTER = 30.0
"""Seconds after start when stored episodes not seen again are taken as answered."""
WORKERS = 4
"""Deliveries running at once at most."""
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 300.0, 3600.0)
"""Upper bounds (seconds) of the status-change-to-delivery histogram."""

Render = Callable[[dict[Any, str | None], dict[Any, Hashable]], Sequence[tuple[str, Any]]]
"""The aggregator's ``render_changes``: change keys and what the notifier last saw of each ->
``(event name, view)`` pairs of what changed (heartbeats are skipped, ``seen`` is updated)."""


class Notifier:
    """Push notifications for the aggregator (module docstring).

    ``settings`` gives the URLs (``notify_urls``), the policy (``notify_*``), ``public_url`` and
    the history file the ledger lives in. ``render`` turns change keys into views (the
    aggregator's ``render_changes``); ``sessions`` returns every live session (for stuck scans).
    ``clock`` returns aware UTC datetimes; ``targets`` replaces the parsed URLs and ``ledger``
    the default one (tests); ``initial_wait`` is the first retry wait in seconds. ``lease``
    returns whether this aggregator holds the reaper lease (True, False; None: nobody does);
    without it the notifier always delivers (:class:`~.standby.Standby`).
    """

    def __init__(
        self,
        settings: Settings,
        render: Render,
        sessions: Callable[[], Iterable[SessionView]],
        *,
        clock: Callable[[], datetime] = utc_now,
        targets: list[Target] | None = None,
        ledger: Ledger | None = None,
        initial_wait: float = 1.0,
        lease: Callable[[], bool | None] | None = None,
    ) -> None:
        self.policy = Policy.from_settings(settings)
        if targets is None:
            targets, invalid = build_targets([u.get_secret_value() for u in settings.notify_urls])
        else:
            invalid = []
        self.targets = targets
        self.invalid = invalid
        self.public_url = settings.public_url
        self.timeout = settings.notify_timeout
        self.attempts = settings.notify_attempts
        self.initial_wait = initial_wait
        self.ledger = ledger or Ledger(settings.history_path, settings.history_keep_days)
        self.render = render
        self.sessions = sessions
        self.clock = clock
        self.rules = Rules(self.policy)
        self.standby = Standby(lease)
        self._inbox: dict[Hashable, str | None] = {}
        self._seen: dict[Any, Hashable] = {}
        self._inbox_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="sessionbeat-notify")
        self._cancels: dict[str, threading.Event] = {}
        self._inflight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._latency = [0] * len(LATENCY_BUCKETS)
        self._latency_sum = 0.0
        self._latency_count = 0
        self._last_sent_at: datetime | None = None
        self._last_error: str | None = None
        self._last_error_at: datetime | None = None
        self._target_state: dict[str, NotifyTarget] = {
            t.url: NotifyTarget(service=t.service, url=t.url, withdraw=t.withdraw) for t in targets
        }
        self._failing: set[str] = set()
        self._started_at: datetime | None = None
        self._reconciled = False
        self._last_scan: datetime | None = None
        for reason in invalid:
            log.warning("notification URL ignored: %s", reason)

    @property
    def enabled(self) -> bool:
        """True when at least one URL parsed (otherwise the aggregator runs no notifier)."""
        return bool(self.targets)

    # -- change feed sink (any thread, under the aggregator's lock) -------------------------

    def push(self, key: Hashable, reason: str | None = None) -> None:
        """Record that ``key`` (a ``(host, session_id)`` or a host id) changed; cheap."""
        with self._inbox_lock:
            wake = not self._inbox
            self._inbox.pop(key, None)
            self._inbox[key] = reason
        if wake:  # only the first change of a pass wakes the thread (Event.set takes a lock)
            self._wake.set()

    def close(self) -> None:
        """Wake the thread: the feed closed (the aggregator stops; :meth:`stop` ends it)."""
        self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Read the ledger's open episodes and start the notifier thread."""
        now = self.clock()
        self.ledger.open()
        self.rules = Rules.restored(self.policy, self.ledger.open_episodes(now))
        self._started_at = now
        if not self.public_url:
            log.info("SESSIONBEAT_PUBLIC_URL is not set: notifications carry no link to the page")
        log.info(
            "notifications on: %s (%s)",
            ", ".join(t.url for t in self.targets),
            ", ".join(k.value for k in self.policy.kinds),
        )
        self._thread = threading.Thread(target=self._run, name="sessionbeat-notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, cancel retries, wait up to ``timeout`` s for deliveries, close."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            cancels = list(self._cancels.values())
            inflight = list(self._inflight.values())
        for event in cancels:
            event.set()
        for future in inflight:
            with contextlib.suppress(Exception):  # accounted inside the delivery
                future.result(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.ledger.close()

    # -- the notifier thread -------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._pass()
            except Exception:  # never let a bug end notifications silently
                log.exception("notifier pass failed; going on")
                self._stop.wait(IDLE_WAKE)

    def _pass(self) -> None:
        now = self.clock()
        due = self.rules.next_due(now)
        wait = IDLE_WAKE if due is None else min(IDLE_WAKE, (due - now).total_seconds())
        if wait > 0:
            self._wake.wait(wait)
        self._wake.clear()
        with self._inbox_lock:
            batch, self._inbox = self._inbox, {}
        if self._stop.is_set():
            return
        now = self.clock()
        actions: list[Action] = []
        if batch:
            for name, view in self.render(batch, self._seen):
                if name == "session" and isinstance(view, SessionView):
                    actions += self.rules.observe_session(view, now)
                elif name == "removed" and isinstance(view, SessionRemoved):
                    actions += self.rules.observe_removed(view.host, view.session_id)
                elif name == "host" and isinstance(view, HostView):
                    actions += self.rules.observe_host(view, now)
        if self.policy.stuck_after is not None and (
            self._last_scan is None or now - self._last_scan >= timedelta(seconds=SCAN_INTERVAL)
        ):
            self._last_scan = now
            actions += self.rules.scan(self.sessions(), now)
        if (
            not self._reconciled
            and self._started_at is not None
            and now - self._started_at >= timedelta(seconds=RECONCILE_AFTER)
        ):
            self._reconciled = True
            actions += self.rules.reconcile()
        actions += self.rules.due(now)
        self.standby.settle()
        self._carry_out(actions, now)
        if batch:
            # Let the next changes coalesce, but never past the next episode's due time.
            due = self.rules.next_due(now)
            pause = MIN_PASS_INTERVAL
            if due is not None:
                pause = min(pause, max(0.0, (due - self.clock()).total_seconds()))
            self._stop.wait(pause)

    def _carry_out(self, actions: list[Action], now: datetime) -> None:
        for action in actions:
            if isinstance(action, Send):
                self.ledger.record_sent(action.episodes, now)
                message = messages.render(action, now, self.public_url)
                opened = min(ep.opened_at for ep in action.episodes)
                self.standby.submit(
                    partial(self._submit, action.batch_id, action.kind, message, opened)
                )
            elif isinstance(action, Closed):
                self.ledger.record_closed(action.episodes, now)
            elif isinstance(action, Withdraw):
                self.standby.submit(partial(self._withdraw, action))
            elif isinstance(action, Filtered):
                self._count(action.kind, "filtered")

    # -- deliveries (pool threads) -------------------------------------------------------

    def _submit(
        self, batch_id: str, kind: NotifyKind, message: messages.Message, opened: datetime
    ) -> None:
        cancel = threading.Event()
        with self._lock:
            self._cancels[batch_id] = cancel
            future = self._pool.submit(self._deliver, batch_id, kind, message, opened, cancel)
            self._inflight[batch_id] = future

    def _deliver(
        self,
        batch_id: str,
        kind: NotifyKind,
        message: messages.Message,
        opened: datetime,
        cancel: threading.Event,
    ) -> None:
        delivered = False
        for target in self.targets:
            result = self._attempt(
                target, kind, partial(target.send, message, batch_id, self.timeout), cancel
            )
            if result.outcome is Outcome.OK:
                self._count(kind, "sent")
                if not delivered:
                    delivered = True
                    self._observe_latency(opened)
            elif result.outcome is Outcome.CANCELLED:
                self._count(kind, "cancelled")
            else:
                self._count(kind, "failed")

    def _withdraw(self, action: Withdraw) -> None:
        with self._lock:
            cancel = self._cancels.pop(action.batch_id, None)
            previous = self._inflight.pop(action.batch_id, None)
        if cancel is not None:
            cancel.set()  # a delivery still retrying gives up: the approval was answered
        self._pool.submit(self._withdraw_now, action, previous)

    def _withdraw_now(self, action: Withdraw, previous: Future[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(Exception):  # accounted inside the delivery
                previous.result()
        never = threading.Event()
        follow = messages.answered(action.kind, action.episodes)
        for target in self.targets:
            if target.withdraw:
                result = self._attempt(
                    target,
                    action.kind,
                    partial(target.delete, action.batch_id, self.timeout),
                    never,
                    count_as="withdraw_failed",
                )
                if result.outcome is Outcome.OK:
                    self._count(action.kind, "withdrawn")
            elif action.followup:
                result = self._attempt(
                    target,
                    action.kind,
                    partial(target.send, follow, action.batch_id + "-done", self.timeout),
                    never,
                )
                if result.outcome is Outcome.OK:
                    self._count(action.kind, "followup")

    def _attempt(
        self,
        target: Target,
        kind: NotifyKind,
        call: Callable[[], None],
        cancel: threading.Event,
        count_as: str = "failed",
    ) -> Result:
        def retried(exc: NotifyDeliveryError) -> None:
            self._count(kind, "retried")
            self._failure(target, exc.reason)

        result = attempt(
            call,
            attempts=self.attempts,
            cancel=cancel,
            on_retry=retried,
            initial_wait=self.initial_wait,
        )
        if result.outcome is Outcome.FAILED:
            self._failure(target, result.error or "failed")
            if count_as != "failed":
                self._count(kind, count_as)
        elif result.outcome is Outcome.OK:
            self._success(target)
        return result

    # -- accounting ----------------------------------------------------------------------

    def _count(self, kind: NotifyKind, result: str) -> None:
        with self._lock:
            self._counts[(kind.value, result)] += 1

    def _observe_latency(self, opened: datetime) -> None:
        now = self.clock()
        seconds = max(0.0, (now - opened).total_seconds())
        with self._lock:
            self._last_sent_at = now
            self._latency_sum += seconds
            self._latency_count += 1
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self._latency[i] += 1

    def _failure(self, target: Target, reason: str) -> None:
        now = self.clock()
        with self._lock:
            state = self._target_state[target.url]
            state.last_result, state.last_at, state.last_error = "failed", now, reason
            self._last_error, self._last_error_at = f"{target.service}: {reason}", now
            first = target.url not in self._failing
            self._failing.add(target.url)
        if first:
            log.warning("notification to %s failed: %s (retrying with backoff)", target.url, reason)

    def _success(self, target: Target) -> None:
        now = self.clock()
        with self._lock:
            state = self._target_state[target.url]
            state.last_result, state.last_at, state.last_error = "sent", now, None
            recovered = target.url in self._failing
            self._failing.discard(target.url)
        if recovered:
            log.info("notifications to %s work again", target.url)

    def status(self) -> NotifyStatus:
        """Return the notifier's state for ``GET /notify``, the page and the metrics."""
        now = self.clock()
        with self._lock:
            counts: dict[str, dict[str, int]] = {}
            for (kind, result), n in self._counts.items():
                counts.setdefault(kind, {})[result] = n
            return NotifyStatus(
                enabled=self.enabled,
                kinds=self.policy.kinds,
                grace_seconds=self.policy.grace,
                quiet_now=self.policy.quiet_until(now) is not None,
                targets=[t.model_copy() for t in self._target_state.values()],
                invalid=list(self.invalid),
                pending=self.rules.pending(),
                last_sent_at=self._last_sent_at,
                last_error=self._last_error,
                last_error_at=self._last_error_at,
                counts=counts,
                latency_buckets=list(zip(LATENCY_BUCKETS, self._latency, strict=True)),
                latency_sum=self._latency_sum,
                latency_count=self._latency_count,
            )

    def send_test(self, timeout: float | None = None) -> list[tuple[Target, Result]]:
        """Send one test message to every target now (no retries); return each result."""
        message = messages.Message(
            "sessionbeat test",
            "Notifications from sessionbeat reach this service."
            + (f"\n{self.public_url}" if self.public_url else ""),
            self.public_url or None,
        )
        results = []
        for target in self.targets:
            result = attempt(
                partial(target.send, message, "sb-test", timeout or self.timeout),
                attempts=1,
                cancel=threading.Event(),
            )
            self._count(NotifyKind.TEST, "sent" if result.outcome is Outcome.OK else "failed")
            results.append((target, result))
        return results
