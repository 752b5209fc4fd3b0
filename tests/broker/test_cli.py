"""`sessionbeat broker`: users made with mosquitto_passwd, enforced by a real mosquitto + ACL."""

from __future__ import annotations

import shutil
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from sessionbeat.broker.users import Role, acl_roles, passwd_users
from sessionbeat.cli import app
from tests.conftest import short_tmpdir
from tests.deploy.prod_broker import REPO, ProductionBroker
from tests.tools import require_tool


@pytest.fixture(autouse=True)
def mosquitto_passwd_installed() -> None:
    """The CLI writes users with mosquitto_passwd: skip without it (fail on CI, tests/tools.py)."""
    require_tool("mosquitto_passwd")


NOT_AUTHORIZED = 135
"""MQTT 5 PUBACK reason code 0x87 "Not authorized"."""
ACCEPTED = {0, 16}
"""MQTT 5 PUBACK reason codes of an accepted publish: Success, No matching subscribers."""


@dataclass
class Files:
    passwd: Path
    acl: Path

    def args(self) -> list[str]:
        return ["--passwd-file", str(self.passwd), "--acl-file", str(self.acl)]


@pytest.fixture
def files() -> Files:
    """A copy of the committed ACL and a password file path that does not exist yet."""
    root = short_tmpdir("sb-users-")
    shutil.copy(REPO / "mosquitto" / "acl", root / "acl")
    return Files(root / "passwd", root / "acl")


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def add(files: Files, command: str, name: str, *extra: str) -> str:
    """Run an add-* command; return the broker URL it printed on stdout (``VARIABLE=url``)."""
    result = run("broker", command, name, *files.args(), "--broker-host", "127.0.0.1", *extra)
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    key, url = line.split("=", 1)
    aggregator = command == "add-aggregator"
    assert key == ("SESSIONBEAT_AGGREGATOR_BROKER_URL" if aggregator else "SESSIONBEAT_BROKER_URL")
    return url


def test_add_aggregator_prints_the_variable_compose_reads(files: Files) -> None:
    """add-aggregator prints the .env line compose.yaml hands to the aggregator as its broker."""
    result = run("broker", "add-aggregator", *files.args())
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    variable = line.split("=", 1)[0]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    broker_url = compose["services"]["aggregator"]["environment"]["SESSIONBEAT_BROKER_URL"]
    assert broker_url.startswith(f"${{{variable}:")


def test_add_host_creates_a_hashed_entry_and_prints_the_url(files: Files) -> None:
    """add-host writes user:hash (never the password) and prints a URL with the credentials."""
    url = add(files, "add-host", "mac", "--port", "1884")
    parts = urlsplit(url)
    assert (parts.scheme, parts.username, parts.hostname, parts.port) == (
        "mqtt",
        "mac",
        "127.0.0.1",
        1884,
    )
    assert parts.password and len(parts.password) >= 20
    text = files.passwd.read_text()
    assert text.startswith("mac:$")
    assert parts.password not in text
    assert passwd_users(files.passwd) == ["mac"]


def test_password_file_is_not_world_readable(files: Files) -> None:
    """The password file is mode 0640 when created, and again after any later change."""
    add(files, "add-host", "mac")
    assert stat.S_IMODE(files.passwd.stat().st_mode) == 0o640
    files.passwd.chmod(0o644)  # e.g. made by mosquitto_passwd -c, or an older sessionbeat
    add(files, "add-viewer", "phone")
    assert stat.S_IMODE(files.passwd.stat().st_mode) == 0o640
    assert run("broker", "remove", "mac", "--passwd-file", str(files.passwd)).exit_code == 0
    assert stat.S_IMODE(files.passwd.stat().st_mode) == 0o640
    assert passwd_users(files.passwd) == ["phone"]


def test_tls_url_uses_mqtts_and_8883(files: Files) -> None:
    """--tls prints an mqtts:// URL on the TLS listener's port."""
    parts = urlsplit(add(files, "add-host", "win", "--tls"))
    assert (parts.scheme, parts.port) == ("mqtts", 8883)


def test_existing_user_needs_force_for_a_new_password(files: Files) -> None:
    """A second add-host of the same name is refused; --force replaces the password."""
    first = urlsplit(add(files, "add-host", "mac")).password
    again = run("broker", "add-host", "mac", *files.args())
    assert again.exit_code == 2
    assert "--force" in again.output
    second = urlsplit(add(files, "add-host", "mac", "--force")).password
    assert second != first
    assert passwd_users(files.passwd) == ["mac"]


def test_names_must_be_topic_safe_ids(files: Files) -> None:
    """A name that cannot be a topic level (or a host id) is refused and nothing is written."""
    for bad in ("a/b", "+", "#", "with space", "x" * 65):
        result = run("broker", "add-host", bad, *files.args())
        assert result.exit_code == 2, bad
    assert not files.passwd.exists()


def test_a_host_cannot_take_the_name_of_a_privileged_user(files: Files) -> None:
    """add-host aggregator/viewer is refused: the host would get that user's ACL rights."""
    for name in ("aggregator", "viewer"):
        result = run("broker", "add-host", name, *files.args())
        assert result.exit_code == 2
        assert "pick another name" in result.output
    add(files, "add-host", "mac")
    result = run("broker", "add-viewer", "mac", *files.args())
    assert result.exit_code == 2


def test_add_viewer_appends_a_read_only_block_once(files: Files) -> None:
    """A new viewer gets read + deny-own-subtree ACL lines, added once even with --force."""
    add(files, "add-viewer", "phone")
    add(files, "add-viewer", "phone", "--force")
    text = files.acl.read_text()
    assert text.count("user phone\n") == 1
    assert "topic read sessionbeat/v1/#\ntopic deny sessionbeat/v1/phone/#" in text
    assert acl_roles(files.acl)["phone"] is Role.VIEWER


def test_add_aggregator_defaults_to_the_compose_service(files: Files) -> None:
    """add-aggregator names the user "aggregator" and points at the compose broker by default."""
    result = run("broker", "add-aggregator", *files.args())
    assert result.exit_code == 0, result.output
    parts = urlsplit(result.stdout.strip().split("=", 1)[1])
    assert (parts.username, parts.hostname, parts.port) == ("aggregator", "mosquitto", 1883)
    assert acl_roles(files.acl)["aggregator"] is Role.AGGREGATOR


def test_list_and_remove(files: Files) -> None:
    """List shows each user's role; remove deletes the entry; removing twice fails with 3."""
    add(files, "add-host", "mac")
    add(files, "add-viewer", "viewer")
    listed = run("broker", "list", *files.args())
    assert listed.stdout.splitlines() == ["mac\thost", "viewer\tviewer"]
    assert run("broker", "remove", "mac", "--passwd-file", str(files.passwd)).exit_code == 0
    assert passwd_users(files.passwd) == ["viewer"]
    assert run("broker", "remove", "mac", "--passwd-file", str(files.passwd)).exit_code == 3


class Client:
    """A paho MQTT 5 client logged in with a URL's credentials; records what it receives."""

    def __init__(self, url: str, port: int) -> None:
        parts = urlsplit(url)
        self.received: list[tuple[str, bytes, bool]] = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.connect_rc: int | None = None
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-{parts.username}",
            protocol=mqtt.MQTTv5,
        )
        self.client.username_pw_set(parts.username, parts.password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.connected.wait(10)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        self.connect_rc = rc.value
        self.connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.received.append((msg.topic, msg.payload, bool(msg.retain)))
            self.cond.notify_all()

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(10)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """QoS 1 publish; return the PUBACK reason code (0 success, 135 not authorized)."""
        codes: list[int] = []
        done = threading.Event()

        def on_publish(client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
            codes.append(rc.value)
            done.set()

        self.client.on_publish = on_publish
        self.client.publish(topic, payload, qos=1, retain=retain)
        assert done.wait(10)
        return codes[0]

    def wait_for(self, payload: bytes) -> list[tuple[str, bytes, bool]]:
        """Block until ``payload`` arrived; return everything received up to then."""
        with self.cond:
            assert self.cond.wait_for(lambda: any(m[1] == payload for m in self.received), 10)
            return list(self.received)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def secured(files: Files) -> Iterator[tuple[ProductionBroker, dict[str, str]]]:
    """The production mosquitto config with users made by the CLI: two hosts, viewer, aggregator."""
    urls = {
        "mac": add(files, "add-host", "mac"),
        "win": add(files, "add-host", "win"),
        "viewer": add(files, "add-viewer", "viewer"),
        "aggregator": add(files, "add-aggregator", "aggregator"),
    }
    broker = ProductionBroker(short_tmpdir("sb-prodb-"), files.passwd, files.acl)
    with broker:
        yield broker, urls


def test_wrong_password_and_anonymous_are_refused(
    secured: tuple[ProductionBroker, dict[str, str]],
) -> None:
    """The production broker accepts the printed credentials and nothing else."""
    broker, urls = secured
    good = Client(urls["mac"], broker.port)
    assert good.connect_rc == 0
    good.close()
    parts = urlsplit(urls["mac"])
    wrong = Client(f"mqtt://mac:{parts.password}x@127.0.0.1", broker.port)
    assert wrong.connect_rc == NOT_AUTHORIZED
    wrong.close()
    anonymous = Client("mqtt://127.0.0.1", broker.port)
    assert anonymous.connect_rc == NOT_AUTHORIZED
    anonymous.close()


def test_acl_keeps_each_host_in_its_subtree_and_viewers_read_only(
    secured: tuple[ProductionBroker, dict[str, str]],
) -> None:
    """Host A cannot write host B's topics, a viewer cannot publish at all; both still read."""
    broker, urls = secured
    aggregator = Client(urls["aggregator"], broker.port)
    viewer = Client(urls["viewer"], broker.port)
    mac = Client(urls["mac"], broker.port)
    win = Client(urls["win"], broker.port)
    try:
        aggregator.subscribe("sessionbeat/v1/#")
        viewer.subscribe("sessionbeat/v1/#")
        win.subscribe("sessionbeat/v1/#")  # granted only for its own subtree
        forged = [
            (mac, "sessionbeat/v1/win/status", b"mac-forges-win"),
            (mac, "sessionbeat/v1/win/sessions/s1", b"mac-forges-win-session"),
            (viewer, "sessionbeat/v1/mac/status", b"viewer-writes-mac"),
            (viewer, "sessionbeat/v1/viewer/status", b"viewer-writes-own-name"),
            (viewer, "elsewhere", b"viewer-writes-elsewhere"),
        ]
        codes = [who.publish(topic, payload) for who, topic, payload in forged]
        assert mac.publish("sessionbeat/v1/mac/status", b"mac-own", retain=True) in ACCEPTED
        assert win.publish("sessionbeat/v1/win/status", b"win-own") in ACCEPTED
        # Everything above was acknowledged before these markers were sent: a subscriber that
        # got the marker would have got a forged message first, had the broker passed it.
        seen = aggregator.wait_for(b"win-own")
        assert {p for _t, p, _r in seen} == {b"mac-own", b"win-own"}
        assert {p for _t, p, _r in viewer.wait_for(b"win-own")} == {b"mac-own", b"win-own"}
        assert {p for _t, p, _r in win.wait_for(b"win-own")} == {b"win-own"}  # not mac's
        # mosquitto 2.0 also says so in the MQTT 5 PUBACK (older brokers drop silently).
        assert codes == [NOT_AUTHORIZED] * len(forged)
    finally:
        for client in (aggregator, viewer, mac, win):
            client.close()


def test_aggregator_may_clear_a_hosts_retained_topic(
    secured: tuple[ProductionBroker, dict[str, str]],
) -> None:
    """The aggregator's empty retained publish removes a reaped session's retained state."""
    broker, urls = secured
    topic = "sessionbeat/v1/mac/sessions/3f1c2d9e-0b7a-4c1e-9a53-6d2f8e1b4c70"
    mac = Client(urls["mac"], broker.port)
    aggregator = Client(urls["aggregator"], broker.port)
    try:
        assert mac.publish(topic, b"beat", retain=True) in ACCEPTED
        assert aggregator.publish(topic, b"", retain=True) in ACCEPTED
        assert mac.publish("sessionbeat/v1/mac/status", b"marker", retain=True) in ACCEPTED
    finally:
        mac.close()
        aggregator.close()
    late = Client(urls["viewer"], broker.port)
    try:
        late.subscribe("sessionbeat/v1/#")
        retained = late.wait_for(b"marker")
        assert [t for t, _p, r in retained if r] == ["sessionbeat/v1/mac/status"]
    finally:
        late.close()
