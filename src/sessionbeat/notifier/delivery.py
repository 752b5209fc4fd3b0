"""One delivery to one target, retried with backoff (tenacity), cancellable, accounted.

A failing service (timeout, refused connection, HTTP 5xx, a plugin that says no) is tried
``attempts`` times in all, waiting 1 s, 2 s, 4 s ... (at most :data:`MAX_BACKOFF` seconds, with
jitter) between tries; an HTTP 4xx other than 408/425/429 is not retried. The waits end early
when the delivery is cancelled (the approval was answered meanwhile: a late message would be
noise). :class:`Outcome` says what happened; nothing here raises to the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
    wait_random,
)

from sessionbeat.errors import NotifyDeliveryError

MAX_BACKOFF = 60.0
"""Seconds between two tries of one delivery at most."""


class Outcome(StrEnum):
    """How a delivery ended: ``ok``, ``failed`` (out of tries, or not retryable), ``cancelled``."""

    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Result:
    """A delivery's outcome, the tries it took, and the last error's reason (redacted)."""

    outcome: Outcome
    tries: int
    error: str | None = None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NotifyDeliveryError) and exc.retry


def attempt(
    call: Callable[[], None],
    *,
    attempts: int,
    cancel: threading.Event,
    on_retry: Callable[[NotifyDeliveryError], None] | None = None,
    initial_wait: float = 1.0,
) -> Result:
    """Run ``call`` until it returns, with up to ``attempts`` tries; return the :class:`Result`.

    ``call`` raises ``NotifyDeliveryError`` to fail a try. ``cancel`` set before a try (or
    during a wait) ends the delivery as ``cancelled``. ``on_retry`` is told each failure that
    will be tried again. ``initial_wait`` is the first wait in seconds (tests shorten it).
    """
    tries = 0

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if on_retry is not None and isinstance(exc, NotifyDeliveryError):
            on_retry(exc)

    delivered = False

    def one() -> None:
        nonlocal tries, delivered
        if cancel.is_set():
            return  # not tried: ``delivered`` stays False
        tries += 1
        call()
        delivered = True

    def sleep(seconds: float) -> None:
        cancel.wait(seconds)

    retrying = Retrying(
        stop=stop_after_attempt(attempts) | stop_when_event_set(cancel),
        wait=wait_exponential(multiplier=initial_wait, max=MAX_BACKOFF)
        + wait_random(0, initial_wait),
        retry=retry_if_exception(_retryable),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        retrying(one)
    except NotifyDeliveryError as exc:
        if cancel.is_set():
            return Result(Outcome.CANCELLED, tries, exc.reason)
        return Result(Outcome.FAILED, tries, exc.reason)
    return Result(Outcome.OK if delivered else Outcome.CANCELLED, tries)
