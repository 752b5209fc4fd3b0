"""Schemathesis against the real API over HTTP: no 5xx, every response as documented.

The aggregator is served by uvicorn on a free loopback port (tests/aggregator/support.py
``running``) with live sessions and history entries in it; schemathesis reads its
``/openapi.json`` and sends hypothesis-generated requests to every operation but ``/events``
(an endless stream), valid and invalid ones, with a fixed seed: up to 25 cases per operation
(fewer where there is less to vary; 434 requests in all when measured, in about 6 s), once
without a token and once with one (issue 12, item 9). Its default checks fail a test on a 5xx,
on a status the operation does not list, on a body or header that does not match the schema,
on a request violating the schema that is accepted, and on a missing token that is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.generation.meta import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from sessionbeat.aggregator.views import SessionFilter
from sessionbeat.broker.embedded import LocalBroker
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

TOKEN = "schemathesis-token"
CASES = 25
"""Generated requests per operation at most (13 operations, two modes)."""
SEED = 20250601
"""Hypothesis' seed: the same requests every run."""


def _filled(broker: LocalBroker, **overrides: Any) -> Iterator[ServedApi]:
    """A served aggregator holding live sessions and reaped ones (so bodies are not empty)."""
    clock = ManualClock()
    publisher = Publisher(broker)
    host = unique_host("st")
    try:
        with running(broker, short_tmpdir("sb-st-"), clock=clock, ended_linger=60, **overrides) as (
            service,
            api,
        ):
            publisher.beat(beat(host, "ended-1", status="ended", repo="web", task="done"))
            publisher.beat(beat(host, "live-1", status="needs_approval", tool="Bash"))
            publisher.beat(beat(host, "live-2", repo="api", context_tokens=5, context_window=9))
            wait_until(
                lambda: sum(v.host == host for v in service.sessions(SessionFilter(all=True))) == 3,
                what="this host's three sessions",
            )
            clock.advance(61)
            wait_until(lambda: service.history.page(host=host).total == 1, what="reaped")
            yield api
    finally:
        publisher.close()


@pytest.fixture(scope="module")
def open_api(broker: LocalBroker) -> Iterator[ServedApi]:
    """The API with no token configured, and a notifier that is on (``GET /notify`` filled)."""
    yield from _filled(broker, notify_status=notify_on)


@pytest.fixture(scope="module")
def token_api(broker: LocalBroker) -> Iterator[ServedApi]:
    """The API with ``api_token`` set."""
    yield from _filled(broker, api_token=TOKEN)


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


OPERATIONS = [
    "/healthz",
    "/readyz",
    "/sessions",
    "/sessions/{session_id}",
    "/sessions/{session_id}/export",
    "/hosts",
    "/overview",
    "/summary",
    "/notify",
    "/metrics",
    "/history",
    "/history/export",
    "/history/{session_id}",
]
"""Every GET of the OpenAPI document but ``/events``, each a test of its own."""


@pytest.fixture(scope="module")
def open_schema(open_api: ServedApi) -> Any:
    """The OpenAPI document of the open API, as schemathesis reads it."""
    return schemathesis.openapi.from_url(f"{open_api.url}/openapi.json")


@pytest.fixture(scope="module")
def token_schema(token_api: ServedApi) -> Any:
    """The OpenAPI document of the token-protected API (fetched with the token)."""
    return schemathesis.openapi.from_url(f"{token_api.url}/openapi.json", headers=_auth())


def _run(schema: Any, path: str, headers: dict[str, str]) -> None:
    """Send ``CASES`` valid and invalid generated requests to ``GET path``, checking each."""
    operation = schema[path]["GET"]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @seed(SEED)
    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        # Each example is an HTTP round trip: hypothesis' speed and filter checks would judge
        # the transport, not the API.
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case: schemathesis.Case) -> None:
        # A cursor is opaque: any string fits its schema, but only one the server issued is a
        # cursor (anything else is a documented 400), so a generated one is not "valid data".
        opaque = bool(case.query) and "cursor" in case.query
        excluded = [positive_data_acceptance] if opaque else []
        # A case made negative by dropping the Authorization header gets it back from
        # ``headers`` below: its only other "violation" may be an unknown query parameter,
        # which every route ignores by design, so it is no longer a case that must be refused.
        header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
        if headers and header is not None and header.mode is GenerationMode.NEGATIVE:
            excluded.append(negative_data_rejection)
        case.call_and_validate(headers=headers, timeout=10, excluded_checks=excluded)

    check()


def test_every_operation_is_fuzzed(open_schema: Any) -> None:
    """A new endpoint fails here until it is added to OPERATIONS (or said to be left out)."""
    documented = {op.ok().path for op in open_schema.get_all_operations()}
    assert documented - set(OPERATIONS) == {"/events"}


@pytest.mark.slow
@pytest.mark.parametrize("path", OPERATIONS)
def test_api_without_token_answers_as_documented(open_schema: Any, path: str) -> None:
    """Whatever a client sends, the open API answers a documented status, never a 5xx."""
    _run(open_schema, path, {})


@pytest.mark.slow
@pytest.mark.parametrize("path", OPERATIONS)
def test_api_with_token_answers_as_documented(token_schema: Any, path: str) -> None:
    """The same with a token configured and sent: documented statuses only, never a 5xx."""
    _run(token_schema, path, _auth())
