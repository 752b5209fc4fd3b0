"""The typed API client against a real aggregator over real HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from sessionbeat import topics
from sessionbeat.aggregator.service import AggregatorService
from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.errors import ApiUnavailableError, NotFoundError, UnauthorizedError
from sessionbeat.models import (
    HistoryEntry,
    NotifyStatus,
    SessionDetail,
    SessionRemoved,
    SessionStatus,
    SessionView,
)
from sessionbeat.readers.client import ApiClient, ApiEvent
from tests.aggregator.support import (
    ManualClock,
    Publisher,
    ServedApi,
    beat,
    notify_on,
    running,
    unique_host,
    wait_until,
)
from tests.conftest import short_tmpdir


@pytest.fixture
def served(
    broker: LocalBroker, clock: ManualClock
) -> Iterator[tuple[AggregatorService, ServedApi]]:
    with running(broker, short_tmpdir(), clock=clock, ended_linger=10) as pair:
        yield pair


def test_typed_methods_return_models(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher, clock: ManualClock
) -> None:
    """Each endpoint comes back as its model, filters passed through."""
    _, api = served
    host = unique_host()
    publisher.beat(beat(host, "ap", status="needs_approval", repo="api", tool="Bash"))
    publisher.beat(beat(host, "en", status="ended", repo="web", task="done"))
    with ApiClient(api.url) as client:
        wait_until(lambda: len(client.list_sessions(host=host, all=True)) == 2)
        views = client.list_sessions(host=host)
        assert [type(v) for v in views] == [SessionView]
        assert views[0].status is SessionStatus.NEEDS_APPROVAL
        assert client.list_sessions(host=host, status=SessionStatus.ENDED)[0].session_id == "en"
        detail = client.session("ap", host=host)
        assert isinstance(detail, SessionDetail) and detail.tool == "Bash"
        assert any(h.host == host and h.needs_approval == 1 for h in client.hosts())
        assert client.summary().by_host[host] == 1
        assert client.health().broker_connected is True
        clock.advance(11)
        wait_until(lambda: client.history(host=host).total == 1, what="reaped")
        entry = client.history_entry("en", host=host)
        assert isinstance(entry, HistoryEntry) and entry.task == "done"
        assert [e.session_id for e in client.iter_history(host=host, page_size=1)] == ["en"]
        assert "| task | done |" in client.export_session("en", "md", host=host)
        assert '"session_id": "en"' in client.export_history("json", host=host)
        assert "sessionbeat_messages_received_total" in client.metrics()


def test_sessions_json_is_the_raw_array(
    served: tuple[AggregatorService, ServedApi], publisher: Publisher
) -> None:
    """sessions_json returns the API's array unchanged (what --json prints)."""
    _, api = served
    host = unique_host()
    publisher.beat(beat(host, "s1"))
    with ApiClient(api.url) as client:
        raw = wait_until(lambda: client.sessions_json(host=host))
        assert raw == [v.model_dump(mode="json") for v in client.list_sessions(host=host)]


def test_notify_status_is_a_model(broker: LocalBroker) -> None:
    """notify_status() returns the notifier's state, and enabled false without a notifier."""
    state = notify_on()
    with (
        running(broker, short_tmpdir(), notify_status=lambda: state) as (_service, api),
        ApiClient(api.url) as client,
    ):
        assert client.notify_status() == state
    with running(broker, short_tmpdir()) as (_service, api), ApiClient(api.url) as client:
        assert client.notify_status() == NotifyStatus(enabled=False)


def test_unknown_session_is_not_found(served: tuple[AggregatorService, ServedApi]) -> None:
    """A 404 becomes NotFoundError carrying the API's reason."""
    _, api = served
    with ApiClient(api.url) as client, pytest.raises(NotFoundError, match="no live session"):
        client.session("nope")


def test_unreachable_api_names_url_and_hint() -> None:
    """Nothing listening: ApiUnavailableError with the URL and what to do."""
    url = f"http://127.0.0.1:{free_port()}"
    with ApiClient(url, timeout=2) as client, pytest.raises(ApiUnavailableError) as info:
        client.list_sessions()
    assert url in str(info.value)
    assert "sessionbeat aggregator" in str(info.value)


def test_token(broker: LocalBroker) -> None:
    """Without the token the client raises UnauthorizedError; with it, it works."""
    with running(broker, short_tmpdir(), api_token="t0ken") as (_service, api):
        with ApiClient(api.url) as client, pytest.raises(UnauthorizedError, match="API_TOKEN"):
            client.summary()
        with ApiClient(api.url, token="t0ken") as client:
            assert client.summary().broker_connected is True


def test_events_iterator(served: tuple[AggregatorService, ServedApi], publisher: Publisher) -> None:
    """events() yields ready first, then parsed session and removed events."""
    _, api = served
    host = unique_host()
    got: list[ApiEvent] = []
    ready = threading.Event()

    def read() -> None:
        with ApiClient(api.url) as client:
            for event in client.events(read_timeout=30):
                if event.event == "ready":
                    ready.set()
                elif getattr(event.data, "host", None) == host:
                    got.append(event)
                    if event.event == "removed":
                        return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(10)
    publisher.beat(beat(host, "s1", tool="Grep"))
    wait_until(lambda: got, what="session event")
    publisher.clear(topics.session_topic(host, "s1"))
    reader.join(15)
    assert not reader.is_alive()
    assert isinstance(got[0].data, SessionView) and got[0].data.tool == "Grep"
    assert isinstance(got[-1].data, SessionRemoved) and got[-1].data.reason == "cleared"


def test_health_when_broker_is_down(own_broker: LocalBroker) -> None:
    """health() returns the 503 body (broker_connected False) instead of raising."""
    with running(own_broker, short_tmpdir()) as (_service, api), ApiClient(api.url) as client:
        own_broker.stop()
        health = wait_until(
            lambda: (h := client.health()).broker_connected is False and h, what="disconnect"
        )
        assert health.status == "degraded"
