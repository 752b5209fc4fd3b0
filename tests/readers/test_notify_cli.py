"""``sessionbeat notify status`` via typer's CliRunner against a real aggregator over HTTP."""

from __future__ import annotations

import json

from typer.testing import CliRunner, Result

from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.cli import app
from sessionbeat.models import NotifyStatus, NotifyTarget
from tests.aggregator.support import NTFY_URL, T0, notify_on, running
from tests.conftest import short_tmpdir
from tests.procs import static_server
from tests.readers.test_cli import HOSTILE
from tests.readers.test_safe_text import unsafe_shown


def notify(url: str, *args: str) -> Result:
    """Run ``sessionbeat notify status`` against ``url`` in a 200-column terminal."""
    argv = ["--api-url", url, "--log-level", "ERROR", "notify", "status", *args]
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, argv)


def test_status_shows_services_errors_and_counts(broker: LocalBroker) -> None:
    """On: kinds, grace, each service with its redacted URL, the failing error, counts by kind."""
    state = notify_on(
        last_error="ntfy: HTTP 500",
        last_error_at=T0.replace(hour=14, minute=3),
        invalid=["foo://…: unknown service"],
    )
    with running(broker, short_tmpdir(), notify_status=lambda: state) as (_service, api):
        result = notify(api.url)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "notifications  on" in out
    assert "needs_approval, turn_finished" in out
    assert "30 s" in out  # grace
    assert "ntfy: HTTP 500, 2025-06-01 14:03:00 UTC" in out
    assert "the last delivery failed" in out
    assert "invalid URL    foo://…: unknown service" in out
    assert "2.2 s mean over 2 deliveries" in out
    ntfy = next(line for line in out.splitlines() if line.startswith("ntfy "))
    assert ntfy.split()[:4] == ["ntfy", NTFY_URL, "yes", "sent"]
    header = next(line for line in out.splitlines() if line.startswith("KIND"))
    assert header.split() == ["KIND", "SENT", "FAILED", "WITHDRAWN"]
    assert "needs_approval     2       1          1" in out


def test_json_is_the_api_answer(broker: LocalBroker) -> None:
    """--json prints what GET /notify returns, so scripts can read it."""
    state = notify_on()
    with running(broker, short_tmpdir(), notify_status=lambda: state) as (_service, api):
        result = notify(api.url, "--json")
    assert result.exit_code == 0, result.output
    assert NotifyStatus.model_validate(json.loads(result.output)) == state


def test_off_says_how_to_turn_it_on(broker: LocalBroker) -> None:
    """An aggregator without notification URLs: off, and the setting that turns them on."""
    with running(broker, short_tmpdir()) as (_service, api):
        result = notify(api.url)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "notifications  off (set SESSIONBEAT_NOTIFY_URLS)"


def test_unreachable_api_is_one_line_and_exit_code_4() -> None:
    """No aggregator: one error line naming the URL, exit code 4 like the other readers."""
    url = f"http://127.0.0.1:{free_port()}"
    result = notify(url)
    assert result.exit_code == 4
    assert len(result.output.strip().splitlines()) == 1
    assert result.output.startswith(f"sessionbeat: cannot reach the aggregator at {url}")


def test_an_aggregator_without_notify_is_named_too_old() -> None:
    """A 404 on GET /notify (an older aggregator) says to upgrade it, exit code 4."""
    with static_server(short_tmpdir()) as url:
        result = notify(url)
    assert result.exit_code == 4
    assert "has no GET /notify: upgrade the aggregator" in result.output


def test_hostile_error_text_never_reaches_the_terminal(broker: LocalBroker) -> None:
    """A service's error or URL carrying escape sequences or bidi controls prints inertly."""
    target = NotifyTarget(service="json", url=f"json://x/{HOSTILE}", last_error=f"bad{HOSTILE}")
    state = notify_on(targets=[target], last_error=f"boom{HOSTILE} [bold]x[/bold]")
    with running(broker, short_tmpdir(), notify_status=lambda: state) as (_service, api):
        result = notify(api.url)
    assert result.exit_code == 0, result.output
    assert unsafe_shown(result.output) == []
    assert "[bold]x[/bold]" in result.output  # never read as rich markup
