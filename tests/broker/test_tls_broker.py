"""TLS for real: the production Mosquitto with the 8883 listener, the ACL and a password file.

The certificates come from ``sessionbeat broker tls``'s own code; a real agent and aggregator
connect with ``mqtts://`` and ``SESSIONBEAT_BROKER_CA_FILE``; a client that trusts another CA
is refused, and every part says why.
"""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sessionbeat.broker.client import make_client
from sessionbeat.broker.tls import TlsFiles, write_tls_files
from sessionbeat.cli import app
from sessionbeat.errors import ConfigError
from sessionbeat.readers.doctor import Level, check_broker
from sessionbeat.settings import load_settings
from sessionbeat.stack.replay import load_payload
from tests.conftest import short_tmpdir
from tests.deploy.prod_broker import REPO, ProductionBroker
from tests.procs import Agent, Aggregator, wait_until
from tests.tools import require_tool

VERIFY_FAILED = "certificate verify failed"
"""What OpenSSL says when the broker's certificate does not chain to the trusted CA."""


@dataclass
class TlsBroker:
    broker: ProductionBroker
    files: TlsFiles
    root: Path
    urls: dict[str, str]


def add_user(command: str, name: str, root: Path, broker_host: str, port: int) -> str:
    """Create a user with the CLI; return the mqtts:// URL it printed."""
    result = CliRunner().invoke(
        app,
        [
            "broker", command, name, "--tls", "--port", str(port), "--broker-host", broker_host,
            "--passwd-file", str(root / "passwd"), "--acl-file", str(root / "acl"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().split("=", 1)[1])


@pytest.fixture
def tls_broker() -> Iterator[TlsBroker]:
    """The production config with TLS on, a certificate for localhost and 127.0.0.1, two users."""
    require_tool("mosquitto_passwd")
    root = short_tmpdir("sb-tlsb-")
    shutil.copy(REPO / "mosquitto" / "acl", root / "acl")
    files = write_tls_files(root / "certs", ["localhost", "127.0.0.1"])
    broker = ProductionBroker(root / "broker", root / "passwd", root / "acl", tls=files)
    assert broker.tls_port is not None
    urls = {
        # one by name, one by address: both kinds of subject alternative name are checked
        "mac": add_user("add-host", "mac", root, "localhost", broker.tls_port),
        "aggregator": add_user("add-aggregator", "aggregator", root, "127.0.0.1", broker.tls_port),
    }
    with broker:
        yield TlsBroker(broker, files, root, urls)


PAHO_LEAKS_THE_SOCKET = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)
"""paho 2.x does not close the socket of a failed TLS handshake (``_ssl_wrap_socket``): it is
closed when garbage-collected, with a ResourceWarning that would otherwise fail the test."""


def other_ca() -> Path:
    """A CA of its own, with nothing in common with the broker's."""
    return write_tls_files(short_tmpdir("sb-otherca-"), ["localhost"]).ca_cert


def test_agent_and_aggregator_work_over_mqtts(tls_broker: TlsBroker) -> None:
    """A hook on the host reaches the aggregator's API through the TLS listener only."""
    ca = str(tls_broker.files.ca_cert)
    root = tls_broker.root
    aggregator = Aggregator(
        tls_broker.urls["aggregator"], root / "aggregator", SESSIONBEAT_BROKER_CA_FILE=ca
    )
    agent = Agent(tls_broker.urls["mac"], root / "agent", "mac", SESSIONBEAT_BROKER_CA_FILE=ca)
    try:
        assert tls_broker.urls["mac"].startswith("mqtts://mac:")
        result = agent.publish(load_payload("hook-UserPromptSubmit-3.json"))
        assert result.returncode == 0
        seen = wait_until(lambda: aggregator.sessions(host="mac"), 20, what="the session")
        assert [s["status"] for s in seen.values()] == ["working"]
        assert httpx.get(f"{aggregator.url}/readyz", timeout=5).status_code == 200
    finally:
        agent.stop()
        aggregator.stop()
    assert f":{tls_broker.broker.tls_port}" in tls_broker.urls["mac"]


@PAHO_LEAKS_THE_SOCKET
def test_a_client_trusting_another_ca_is_refused(tls_broker: TlsBroker) -> None:
    """The TLS handshake fails before any MQTT: the certificate does not chain to its CA."""
    settings = load_settings(broker_url=tls_broker.urls["mac"], broker_ca_file=other_ca())
    client = make_client("wrong-ca", settings.broker, ca_file=settings.broker_ca_file)
    with pytest.raises(ssl.SSLCertVerificationError, match=VERIFY_FAILED):
        client.connect(settings.broker.host, settings.broker.port)
    good = load_settings(broker_url=tls_broker.urls["mac"], broker_ca_file=tls_broker.files.ca_cert)
    right = make_client("right-ca", good.broker, ca_file=good.broker_ca_file)
    right.connect(good.broker.host, good.broker.port)  # the same broker, trusted: no error
    right.socket().close()


def test_agent_and_aggregator_say_the_certificate_is_not_trusted(tls_broker: TlsBroker) -> None:
    """With the wrong CA both log the verification failure and name the CA setting."""
    wrong = str(other_ca())
    root = tls_broker.root
    aggregator = Aggregator(
        tls_broker.urls["aggregator"], root / "aggregator", SESSIONBEAT_BROKER_CA_FILE=wrong
    )
    agent = Agent(tls_broker.urls["mac"], root / "agent", "mac", SESSIONBEAT_BROKER_CA_FILE=wrong)
    try:
        for proc in (agent, aggregator):
            wait_until(lambda p=proc: VERIFY_FAILED in p.output(), 20, what=VERIFY_FAILED)
            assert "SESSIONBEAT_BROKER_CA_FILE" in proc.output()
        assert httpx.get(f"{aggregator.url}/readyz", timeout=5).status_code == 503
    finally:
        agent.stop()
        aggregator.stop()


@PAHO_LEAKS_THE_SOCKET
def test_doctor_names_the_ca_file_when_the_certificate_is_not_trusted(
    tls_broker: TlsBroker,
) -> None:
    """`sessionbeat doctor` fails the broker check and says which setting to fix."""
    settings = load_settings(broker_url=tls_broker.urls["mac"], broker_ca_file=other_ca())
    check = check_broker(settings)
    assert check.level is Level.FAIL
    assert VERIFY_FAILED in check.detail
    assert "SESSIONBEAT_BROKER_CA_FILE" in check.hint
    trusted = load_settings(
        broker_url=tls_broker.urls["mac"], broker_ca_file=tls_broker.files.ca_cert
    )
    assert check_broker(trusted).level is Level.OK
    missing = load_settings(
        broker_url=tls_broker.urls["mac"], broker_ca_file=tls_broker.root / "nope.crt"
    )
    check = check_broker(missing)
    assert (check.level, "nope.crt" in check.detail) == (Level.FAIL, True)


def test_a_missing_ca_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A CA path that does not exist is named in a one-line error, not a traceback."""
    settings = load_settings(
        broker_url="mqtts://mac:pw@localhost:8883", broker_ca_file=tmp_path / "nope.crt"
    )
    with pytest.raises(ConfigError, match=r"nope\.crt"):
        make_client("x", settings.broker, ca_file=settings.broker_ca_file)
