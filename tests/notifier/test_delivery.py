"""Deliveries: retried with backoff, cancelled when answered, never raising; targets' secrets."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sessionbeat.errors import NotifyDeliveryError
from sessionbeat.notifier.delivery import Outcome, attempt
from sessionbeat.notifier.messages import Message
from sessionbeat.notifier.targets import AppriseTarget, NtfyTarget, build_targets
from tests.notifier.receiver import Receiver


class Flaky:
    """A call failing ``failures`` times (retryable unless told), then succeeding."""

    def __init__(self, failures: int, retry: bool = True) -> None:
        self.failures = failures
        self.retry = retry
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise NotifyDeliveryError("json://x", f"HTTP 500 (try {self.calls})", retry=self.retry)


def test_a_failing_call_is_retried_until_it_works() -> None:
    """Two failures then success: three tries, two retries reported, outcome ok."""
    call, retried = Flaky(2), []
    result = attempt(
        call, attempts=5, cancel=threading.Event(), on_retry=retried.append, initial_wait=0.01
    )
    assert result.outcome is Outcome.OK
    assert (call.calls, len(retried)) == (3, 2)


def test_retries_stop_after_the_last_attempt_with_the_reason() -> None:
    """A service that keeps failing ends as failed after ``attempts`` tries, with its reason."""
    call = Flaky(99)
    result = attempt(call, attempts=3, cancel=threading.Event(), initial_wait=0.01)
    assert result.outcome is Outcome.FAILED
    assert (call.calls, result.tries) == (3, 3)
    assert result.error == "HTTP 500 (try 3)"


def test_a_client_error_is_not_retried() -> None:
    """An HTTP 4xx (bad topic, bad token) fails at once: trying again cannot help."""
    call = Flaky(99, retry=False)
    result = attempt(call, attempts=5, cancel=threading.Event(), initial_wait=0.01)
    assert (result.outcome, call.calls) == (Outcome.FAILED, 1)


def test_cancelling_during_the_backoff_ends_the_delivery() -> None:
    """An approval answered while its push is being retried: no late message."""
    cancel = threading.Event()
    call = Flaky(99)
    result = attempt(call, attempts=10, cancel=cancel, on_retry=lambda e: cancel.set())
    assert result.outcome is Outcome.CANCELLED
    assert call.calls == 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server standing in for ntfy."""
    with Receiver() as r:
        yield r


def test_build_targets_parses_urls_and_hides_secrets() -> None:
    """Each URL becomes a target shown without its password or token; junk is reported."""
    targets, invalid = build_targets(
        [
            "ntfys://kai:hunter22secret@ntfy.example.com/alerts",
            "pover://userkey123456@apptoken654321",
            "json://127.0.0.1:9/hook",
            "nonsense://whatever",
        ]
    )
    assert [t.service for t in targets] == ["ntfy", "Pushover", "JSON"]
    assert isinstance(targets[0], NtfyTarget) and targets[0].withdraw
    assert isinstance(targets[1], AppriseTarget) and not targets[1].withdraw
    shown = " ".join(t.url for t in targets) + " ".join(invalid)
    for secret in ("hunter22secret", "userkey123456", "apptoken654321"):
        assert secret not in shown
    assert targets[1].scrub("bad token apptoken654321") == "bad token ***"
    assert len(invalid) == 1 and invalid[0].startswith("nonsense://")


def test_ntfy_publishes_with_a_sequence_id_and_deletes_by_it(receiver: Receiver) -> None:
    """An ntfy server gets the title (RFC 2047 when not ASCII), priority, link and X-Sequence-ID."""
    (target,), _ = build_targets([f"ntfy://tk:pw123456@127.0.0.1:{receiver.port}/alerts"])
    message = Message("kai · demo needs approval", "Bash: make", "http://p/?session=s", "high")
    target.send(message, "sb-abc", timeout=5)
    target.delete("sb-abc", timeout=5)
    post, delete = receiver.requests
    assert (post.method, post.path) == ("POST", "/alerts")
    assert post.headers["X-Sequence-ID"] == "sb-abc"
    assert post.headers["Title"].startswith("=?utf-8?")
    assert (post.headers["Priority"], post.headers["Click"]) == ("high", "http://p/?session=s")
    assert post.headers["Authorization"].startswith("Basic ")
    assert post.body == b"Bash: make"
    assert (delete.method, delete.path) == ("DELETE", "/alerts/sb-abc")


def test_an_ntfy_error_names_the_status_and_whether_to_retry(receiver: Receiver) -> None:
    """HTTP 500 is retryable, HTTP 403 is not; the reason carries the status."""
    (target,), _ = build_targets([f"ntfy://127.0.0.1:{receiver.port}/alerts"])
    receiver.fail_next, receiver.fail_status = 1, 500
    with pytest.raises(NotifyDeliveryError) as server:
        target.send(Message("t", "b"), "sb-1", timeout=5)
    assert server.value.retry and "HTTP 500" in server.value.reason
    receiver.fail_next, receiver.fail_status = 1, 403
    with pytest.raises(NotifyDeliveryError) as forbidden:
        target.send(Message("t", "b"), "sb-1", timeout=5)
    assert not forbidden.value.retry and "HTTP 403" in forbidden.value.reason


def test_an_apprise_failure_carries_apprise_s_reason(receiver: Receiver) -> None:
    """A JSON webhook answering 500: the error says so (from Apprise's own log line)."""
    (target,), _ = build_targets([f"json://127.0.0.1:{receiver.port}/hook"])
    receiver.fail_next = 1
    with pytest.raises(NotifyDeliveryError) as failed:
        target.send(Message("t", "b"), "sb-1", timeout=5)
    assert "500" in failed.value.reason
    target.send(Message("title", "body"), "sb-1", timeout=5)
    assert receiver.requests[-1].json()["title"] == "title"
