"""The API's guards over real HTTP (issue 12, item 7).

Trusted Host names, the token on the documentation, a health body without counts, and an
OpenAPI document that says what is needed and lists every status.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.settings import load_settings
from tests.aggregator.support import ServedApi, running
from tests.conftest import short_tmpdir

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def open_api(broker: LocalBroker) -> Iterator[ServedApi]:
    """An aggregator without a token (as on a loopback address)."""
    with running(broker, short_tmpdir("sb-sec-"), allowed_hosts="kai-server") as (_s, api):
        yield api


@pytest.fixture(scope="module")
def token_api(broker: LocalBroker) -> Iterator[ServedApi]:
    """An aggregator with ``api_token`` set."""
    with running(broker, short_tmpdir("sb-sec-"), api_token=TOKEN) as (_s, api):
        yield api


def test_trusted_hosts_default_to_loopback_this_machine_and_the_bind_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Out of the box the API answers to loopback names, the hostname and the bound address."""
    monkeypatch.setattr(socket, "gethostname", lambda: "Kai-Server.tail1234.ts.net")
    settings = load_settings()
    assert settings.trusted_hosts("100.64.0.1") == [
        "100.64.0.1",
        "127.0.0.1",
        "::1",
        "[::1]",
        "kai-server",
        "kai-server.tail1234.ts.net",
        "localhost",
    ]
    assert "0.0.0.0" not in settings.trusted_hosts("0.0.0.0")
    assert "[fd7a::1]" in settings.trusted_hosts("fd7a::1")


def test_allowed_hosts_add_names_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SESSIONBEAT_ALLOWED_HOSTS=aggregator,kai-server adds both names to the defaults."""
    monkeypatch.setenv("SESSIONBEAT_ALLOWED_HOSTS", "aggregator, kai-server,,")
    trusted = load_settings().trusted_hosts("0.0.0.0")
    assert {"aggregator", "kai-server", "localhost", "127.0.0.1"} <= set(trusted)
    assert "" not in trusted


def test_a_foreign_host_header_gets_nothing(open_api: ServedApi) -> None:
    """A page on evil.example whose name resolves to 127.0.0.1 (DNS rebinding) reads nothing."""
    rebound = httpx.get(f"{open_api.url}/sessions", headers={"Host": "evil.example"})
    assert rebound.status_code == 400
    assert "session_id" not in rebound.text
    for name in ("127.0.0.1", "localhost", "kai-server", "KAI-SERVER"):
        port = open_api.url.rsplit(":", 1)[1]
        ok = httpx.get(f"{open_api.url}/sessions", headers={"Host": f"{name}:{port}"})
        assert ok.status_code == 200, name
    assert httpx.get(f"{open_api.url}/healthz", headers={"Host": "evil.example"}).status_code == 400


def test_healthz_tells_no_counts(open_api: ServedApi) -> None:
    """The open health route says how the aggregator is, not how many sessions or hosts it has."""
    body = httpx.get(f"{open_api.url}/healthz").json()
    assert set(body) == {
        "status",
        "ready",
        "reasons",
        "broker_connected",
        "history_ok",
        "now",
        "last_message_at",
        "version",
        "lease_held",
        "lease",
    }


def test_docs_and_openapi_need_the_token_when_one_is_set(token_api: ServedApi) -> None:
    """With a token, the API's description is as private as the API (401 without it)."""
    for path in ("/openapi.json", "/docs", "/redoc"):
        denied = httpx.get(f"{token_api.url}{path}")
        assert denied.status_code == 401, path
        assert denied.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{token_api.url}{path}", headers=AUTH).status_code == 200, path
    assert "swagger" in httpx.get(f"{token_api.url}/docs", headers=AUTH).text.lower()
    for path in ("/healthz", "/readyz"):
        assert httpx.get(f"{token_api.url}{path}").status_code == 200, path


def test_docs_are_open_without_a_token(open_api: ServedApi) -> None:
    """Without a token (loopback only) /docs and /openapi.json answer anyone who can connect."""
    assert httpx.get(f"{open_api.url}/openapi.json").status_code == 200
    assert httpx.get(f"{open_api.url}/docs").status_code == 200


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {path: item["get"] for path, item in document["paths"].items()}


def test_openapi_says_the_token_is_optional_when_none_is_configured(open_api: ServedApi) -> None:
    """A generated client of a token-less aggregator need not send one, and expects no 401."""
    document = httpx.get(f"{open_api.url}/openapi.json").json()
    for path, op in _operations(document).items():
        if path in ("/healthz", "/readyz"):
            assert "security" not in op, path
            continue
        assert op["security"] == [{}, {"HTTPBearer": []}], path
        assert "401" not in op["responses"], path
    scheme = document["components"]["securitySchemes"]["HTTPBearer"]
    assert "optional" in scheme["description"]


def test_openapi_requires_the_token_when_one_is_configured(token_api: ServedApi) -> None:
    """With a token, every operation but the health routes requires it and lists its 401."""
    document = httpx.get(f"{token_api.url}/openapi.json", headers=AUTH).json()
    for path, op in _operations(document).items():
        if path in ("/healthz", "/readyz"):
            assert "security" not in op and "401" not in op["responses"], path
            continue
        assert op["security"] == [{"HTTPBearer": []}], path
        assert "401" in op["responses"], path


EXPECTED_STATUSES = {
    "/healthz": {"200", "400"},
    "/readyz": {"200", "400", "503"},
    "/sessions": {"200", "400", "422"},
    "/sessions/{session_id}": {"200", "400", "404", "422"},
    "/sessions/{session_id}/export": {"200", "400", "404", "422"},
    "/hosts": {"200", "400"},
    "/overview": {"200", "400", "422"},
    "/summary": {"200", "400"},
    "/notify": {"200", "400"},
    "/metrics": {"200", "400"},
    "/events": {"200", "400"},
    "/history": {"200", "400", "422", "503"},
    "/history/export": {"200", "400", "422", "503"},
    "/history/{session_id}": {"200", "400", "404", "422", "503"},
}
"""Every status each endpoint can answer without a token configured (400: a foreign Host)."""


def test_every_status_an_endpoint_can_return_is_documented(open_api: ServedApi) -> None:
    """The OpenAPI document lists each endpoint's statuses, the export route's 404 included."""
    document = httpx.get(f"{open_api.url}/openapi.json").json()
    listed = {path: set(op["responses"]) for path, op in _operations(document).items()}
    assert listed == EXPECTED_STATUSES
