"""Query values out of range are a 422 with a reason, never a 500 (issue 12, item 9)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import ServedApi, running
from tests.conftest import short_tmpdir

OUT_OF_RANGE = [
    ("/history", {"offset": "9223372036854775808"}),
    ("/history", {"since": "0001-01-01T00:00:00+14:00"}),
    ("/history", {"until": "9999-12-31T23:59:59-14:00"}),
    ("/history/export", {"since": "0001-01-01T00:00:00+14:00"}),
    ("/history/export", {"until": "9999-12-31T23:59:59-14:00"}),
    ("/history", {"since": "0.8329246939731086"}),
    ("/history/export", {"until": "1700000000"}),
]
"""Values whose conversion (to SQLite's 64-bit INTEGER, or to UTC) overflows, and numbers where
the OpenAPI document promises an ISO 8601 time (found by the schemathesis run)."""


@pytest.fixture(scope="module")
def api(broker: LocalBroker) -> Iterator[ServedApi]:
    with running(broker, short_tmpdir("sb-bounds-"), connect=False) as (_service, served):
        yield served


@pytest.mark.parametrize(("path", "params"), OUT_OF_RANGE)
def test_out_of_range_query_is_a_422_naming_the_parameter(
    api: ServedApi, path: str, params: dict[str, str]
) -> None:
    """A client asking for an impossible offset or time gets a 422 saying which one, not a 500."""
    response = httpx.get(f"{api.url}{path}", params=params)
    assert response.status_code == 422, response.text
    (name,) = params
    assert [e["loc"] for e in response.json()["detail"]] == [["query", name]]


def test_the_extreme_values_that_fit_are_answered(api: ServedApi) -> None:
    """The largest offset SQLite holds and the first and last UTC instants still work."""
    page = httpx.get(f"{api.url}/history", params={"offset": str(2**63 - 1)})
    assert page.status_code == 200, page.text
    assert page.json()["items"] == []
    window = {"since": "0001-01-01T00:00:00Z", "until": "9999-12-31T23:59:59Z"}
    assert httpx.get(f"{api.url}/history", params=window).status_code == 200
    assert httpx.get(f"{api.url}/history/export", params=window).json() == []
