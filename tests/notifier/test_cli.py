"""``sessionbeat notify test``: one message to every URL, each result printed, no secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from sessionbeat.cli import app
from tests.notifier.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local HTTP server standing in for the services."""
    with Receiver() as r:
        yield r


def test_notify_test_sends_to_every_url_and_prints_each_result(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both services get one test message; the output names each, with the password hidden."""
    monkeypatch.setenv(
        "SESSIONBEAT_NOTIFY_URLS",
        f"json://127.0.0.1:{receiver.port}/hook "
        f"ntfy://kai:s3cretpass@127.0.0.1:{receiver.port}/alerts",
    )
    result = CliRunner().invoke(app, ["notify", "test"])
    assert result.exit_code == 0, result.output
    assert [line[:7] for line in result.output.splitlines()] == ["✓ JSON:", "✓ ntfy:"]
    assert "s3cretpass" not in result.output
    assert sorted(r.path for r in receiver.requests) == ["/alerts", "/hook"]
    assert receiver.matching("POST", "/hook")[0].json()["title"] == "sessionbeat test"


def test_notify_test_reports_a_failing_service_and_exits_1(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service answering 500 and a URL Apprise cannot use: both reported, exit code 1."""
    receiver.fail_next = 1
    monkeypatch.setenv(
        "SESSIONBEAT_NOTIFY_URLS", f"ntfy://127.0.0.1:{receiver.port}/alerts nope://x"
    )
    result = CliRunner().invoke(app, ["notify", "test"])
    assert result.exit_code == 1
    assert "✗ nope://… is not a URL Apprise can use" in result.output
    assert "✗ ntfy: ntfy://127.0.0.1" in result.output and "HTTP 500" in result.output


def test_notify_test_without_urls_says_what_to_set() -> None:
    """No URL configured: exit 2 with the variable to set."""
    result = CliRunner().invoke(app, ["notify", "test"])
    assert result.exit_code == 2
    assert "SESSIONBEAT_NOTIFY_URLS" in result.output
