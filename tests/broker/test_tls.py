"""`sessionbeat broker tls`: a private CA, the broker's certificate, the 8883 listener enabled."""

from __future__ import annotations

import ipaddress
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from sessionbeat.broker.tls import (
    TLS_LISTENER,
    ListenerChange,
    TlsFiles,
    enable_tls_listener,
    write_tls_files,
)
from sessionbeat.cli import app
from sessionbeat.errors import ConfigError
from tests.conftest import short_tmpdir
from tests.deploy.prod_broker import PRODUCTION_CONF


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_server_certificate_names_every_host_and_chains_to_the_ca() -> None:
    """The broker's certificate carries each --host as a DNS name or an IP, signed by the CA."""
    files = write_tls_files(short_tmpdir("sb-tls-"), ["kai-server", "100.64.0.7", "::1"])
    ca, server = load(files.ca_cert), load(files.server_cert)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["kai-server"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("100.64.0.7"),
        ipaddress.ip_address("::1"),
    ]
    server.verify_directly_issued_by(ca)
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_private_keys_are_not_world_readable() -> None:
    """ca.key is the owner's alone (0600); server.key 0640 (the broker's group); certs 0644."""
    files = write_tls_files(short_tmpdir("sb-tls-"), ["localhost"])
    assert mode(files.ca_key) == 0o600
    assert mode(files.server_key) == 0o640
    assert mode(files.ca_cert) == 0o644
    assert mode(files.server_cert) == 0o644


def test_a_second_run_keeps_the_ca_and_refuses_to_replace_the_certificate() -> None:
    """Hosts keep trusting the same ca.crt; an existing server.crt is replaced only with force."""
    root = short_tmpdir("sb-tls-")
    first = write_tls_files(root, ["kai-server"])
    ca_before = first.ca_cert.read_bytes()
    server_before = first.server_cert.read_bytes()
    with pytest.raises(ConfigError, match="--force"):
        write_tls_files(root, ["kai-server", "100.64.0.7"])
    assert first.server_cert.read_bytes() == server_before
    again = write_tls_files(root, ["kai-server", "100.64.0.7"], force=True)
    assert again.ca_cert.read_bytes() == ca_before
    assert again.server_cert.read_bytes() != server_before
    load(again.server_cert).verify_directly_issued_by(load(again.ca_cert))


@pytest.mark.parametrize("bad", ["", "a b", "kai_server!", "http://kai", "-kai", "ä.example"])
def test_a_host_that_is_no_name_or_address_is_refused(bad: str) -> None:
    """A typo in --host fails before anything is written."""
    root = short_tmpdir("sb-tls-")
    with pytest.raises(ConfigError):
        write_tls_files(root / "certs", ["kai-server", bad])
    assert not (root / "certs").exists()


def test_enabling_the_listener_uncomments_exactly_the_committed_block() -> None:
    """In the committed config only the four lines of the 8883 block change, comments kept."""
    text = PRODUCTION_CONF.read_text(encoding="utf-8")
    new, change = enable_tls_listener(text)
    assert change is ListenerChange.ENABLED
    before, after = text.splitlines(), new.splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [(f"#{line}", line) for line in TLS_LISTENER]
    assert enable_tls_listener(new) == (new, ListenerChange.ALREADY)


def test_an_edited_config_is_left_alone() -> None:
    """A config whose block the user changed is not touched: the lines to add are printed."""
    text = PRODUCTION_CONF.read_text(encoding="utf-8").replace(
        "#keyfile /mosquitto/certs/server.key", "#keyfile /etc/ssl/private/broker.key"
    )
    assert enable_tls_listener(text) == (text, ListenerChange.NOT_FOUND)


def copy_config() -> Path:
    conf = short_tmpdir("sb-tlsconf-") / "mosquitto.conf"
    shutil.copy(PRODUCTION_CONF, conf)
    return conf


def test_tls_command_writes_files_enables_the_listener_and_says_what_hosts_need() -> None:
    """The command prints the mqtts:// URL form and SESSIONBEAT_BROKER_CA_FILE for the hosts."""
    conf = copy_config()
    certs = conf.parent / "certs"
    result = run(
        "broker", "tls", "--host", "kai-server", "--host", "100.64.0.7",
        "--dir", str(certs), "--config", str(conf),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    files = TlsFiles(certs)
    assert all(p.is_file() for p in files.all())
    assert f"enabled the listener 8883 block in {conf}" in result.stdout
    assert "SESSIONBEAT_BROKER_URL=mqtts://<user>:<password>@kai-server:8883" in result.stdout
    assert "SESSIONBEAT_BROKER_CA_FILE=" in result.stdout
    assert str(files.ca_cert) in result.stdout
    assert "ca.key" in result.stdout
    assert enable_tls_listener(conf.read_text())[1] is ListenerChange.ALREADY


def test_tls_command_prints_the_block_when_it_cannot_enable_it() -> None:
    """With the commented block gone the config is unchanged and the lines are printed."""
    conf = copy_config()
    text = conf.read_text().replace("#listener 8883\n", "")
    conf.write_text(text)
    result = run("broker", "tls", "--host", "localhost", "--dir", str(conf.parent / "certs"),
                 "--config", str(conf))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert conf.read_text() == text
    for line in TLS_LISTENER:
        assert f"  {line}\n" in result.stdout


def test_tls_command_without_force_keeps_an_existing_certificate() -> None:
    """A second run exits 2 naming --force and leaves the first certificate in place."""
    conf = copy_config()
    args = ["broker", "tls", "--host", "localhost", "--dir", str(conf.parent / "certs"),
            "--config", str(conf)]  # fmt: skip
    assert run(*args).exit_code == 0
    again = run(*args)
    assert again.exit_code == 2
    assert "--force" in again.output
    assert run(*args, "--force").exit_code == 0
