"""A private CA and the broker's TLS certificate, and the 8883 listener of mosquitto.conf.

``sessionbeat broker tls`` (``broker/cli.py``) writes four PEM files into one directory
(``mosquitto/certs/`` by default, which compose mounts at ``/mosquitto/certs``):

========== ====== ==============================================================
file       mode   what
========== ====== ==============================================================
ca.crt     0644   the CA certificate every client trusts (SESSIONBEAT_BROKER_CA_FILE)
ca.key     0600   the CA's private key: stays here, signs the next server certificate
server.crt 0644   the broker's certificate: subject alternative names = the ``--host`` values
server.key 0640   the broker's private key (group-readable: the container's Mosquitto group)
========== ====== ==============================================================

Keys are ECDSA P-256 (unencrypted PKCS #8: Mosquitto cannot ask for a passphrase). The CA is
valid for :data:`CA_DAYS`, the server certificate for :data:`SERVER_DAYS` (Apple's limit for
any TLS server certificate, private CAs included). An existing CA is reused, so hosts keep
their ``ca.crt`` when the server certificate is renewed or gets another name. Certificates
follow RFC 5280 (X.509 profile) with the extensions OpenSSL's strict verification asks for.

:func:`enable_tls_listener` uncomments the ``listener 8883`` block of the production
``mosquitto/mosquitto.conf`` only where it is still exactly as committed: a block the user
edited is never touched (the command then prints the lines to add).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sessionbeat.errors import ConfigError

CA_DAYS = 3650
"""Days the CA certificate is valid (ten years: every host trusts it)."""
SERVER_DAYS = 825
"""Days the broker's certificate is valid by default (renew with ``broker tls --force``)."""
BACKDATE = dt.timedelta(hours=1)
"""Certificates start this long before they are made, for hosts whose clock is a bit behind."""
DEFAULT_DIR = Path("mosquitto/certs")
"""Where the files go by default: compose mounts it at ``/mosquitto/certs``."""
DEFAULT_CONFIG = Path("mosquitto/mosquitto.conf")
"""The production Mosquitto config whose TLS listener block is enabled."""
TLS_PORT = 8883
"""The IANA port of MQTT over TLS."""
TLS_LISTENER = (
    f"listener {TLS_PORT}",
    "certfile /mosquitto/certs/server.crt",
    "keyfile /mosquitto/certs/server.key",
    "tls_version tlsv1.2",
)
"""The lines of the TLS listener, with the container's paths (mosquitto.conf(5))."""

_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The four files in ``directory`` (see the module docstring)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate (PEM) every client trusts."""
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """The CA's private key (PEM, mode 0600)."""
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        """The broker's certificate (PEM)."""
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        """The broker's private key (PEM, mode 0640)."""
        return self.directory / "server.key"

    def all(self) -> Iterator[Path]:
        """Yield the four paths: CA certificate and key, server certificate and key."""
        yield from (self.ca_cert, self.ca_key, self.server_cert, self.server_key)


def subject_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """Return the subject alternative names of ``hosts``: IP addresses and DNS names.

    An IPv4 or IPv6 address becomes an ``IPAddress``, anything else must be an ASCII DNS name
    (letters, digits, hyphens, dots; a Unicode name must be given in its ``xn--`` form).
    Raises ``ConfigError`` naming the first value that is neither, or when ``hosts`` is empty.
    """
    if not hosts:
        raise ConfigError("give the broker's name or address with --host (one or more)")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
            continue
        except ValueError:
            pass
        labels = host.rstrip(".").split(".")
        if not host or len(host) > 253 or not all(_DNS_LABEL.match(label) for label in labels):
            raise ConfigError(f"{host!r} is neither a DNS name nor an IP address")
        names.append(x509.DNSName(host.rstrip(".").lower()))
    return names


def new_ca(
    name: str = "sessionbeat broker CA", days: int = CA_DAYS, now: dt.datetime | None = None
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Return a new self-signed CA: its private key and certificate, valid ``days`` days.

    The CA may sign end-entity certificates only (path length 0).
    """
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def server_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    days: int = SERVER_DAYS,
    now: dt.datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Return a new key and a certificate for a TLS server named by ``hosts``, signed by the CA.

    ``hosts`` are DNS names or IP addresses (:func:`subject_names`; the first is also the
    common name). Raises ``ConfigError`` for an invalid host.
    """
    names = subject_names(hosts)
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` atomically with exactly ``mode`` (never readable by others).

    The bytes go to a temporary file created with ``mode`` (then set exactly, whatever the
    umask) and renamed over ``path``, so no reader ever sees a partial file or looser rights.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _load_ca(files: TlsFiles) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    """Return the CA already in ``files``, None if there is none; ``ConfigError`` if half."""
    have_cert, have_key = files.ca_cert.is_file(), files.ca_key.is_file()
    if not have_cert and not have_key:
        return None
    if have_cert != have_key:
        missing = files.ca_key if have_cert else files.ca_cert
        raise ConfigError(f"{missing} is missing: restore it, or remove the other CA file")
    try:
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the CA in {files.directory}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{files.ca_key} is not an ECDSA key made by sessionbeat")
    return key, cert


def write_tls_files(
    directory: Path, hosts: Sequence[str], days: int = SERVER_DAYS, force: bool = False
) -> TlsFiles:
    """Write the CA (unless one is there) and a server certificate for ``hosts``; return them.

    Takes the directory (created when missing), the broker's DNS names and IP addresses, the
    server certificate's validity in days, and whether an existing ``server.crt``/``server.key``
    may be replaced. Raises ``ConfigError`` for an invalid host, a half CA, or an existing
    server certificate without ``force``; ``OSError`` when a file cannot be written.
    """
    subject_names(hosts)  # validate before anything is written
    files = TlsFiles(directory)
    if not force and (files.server_cert.exists() or files.server_key.exists()):
        raise ConfigError(f"{files.server_cert} already exists; --force writes a new one")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _load_ca(files)
    if ca is None:
        ca = new_ca()
        write_private(files.ca_key, _key_pem(ca[0]), 0o600)
        write_private(files.ca_cert, _cert_pem(ca[1]), 0o644)
    key, cert = server_certificate(*ca, hosts, days)
    write_private(files.server_key, _key_pem(key), 0o640)
    write_private(files.server_cert, _cert_pem(cert), 0o644)
    return files


class ListenerChange(StrEnum):
    """What :func:`enable_tls_listener` did to a config."""

    ENABLED = "enabled"
    ALREADY = "already"
    NOT_FOUND = "not_found"


def enable_tls_listener(text: str) -> tuple[str, ListenerChange]:
    """Return ``text`` with the commented TLS listener block enabled, and what was done.

    ``ENABLED``: the four commented lines of :data:`TLS_LISTENER` were found one after the
    other, exactly as committed, and uncommented (nothing else changes). ``ALREADY``: a
    ``listener 8883`` line is active; the text is returned unchanged. ``NOT_FOUND``: neither
    (the block was edited or removed); unchanged, the caller prints the lines to add.
    """
    lines = text.splitlines(keepends=True)
    if any(line.split() == TLS_LISTENER[0].split() for line in lines):
        return text, ListenerChange.ALREADY
    wanted = [f"#{line}" for line in TLS_LISTENER]
    for start in range(len(lines) - len(wanted) + 1):
        block = [line.rstrip("\r\n") for line in lines[start : start + len(wanted)]]
        if block == wanted:
            for offset in range(len(wanted)):
                lines[start + offset] = lines[start + offset][1:]
            return "".join(lines), ListenerChange.ENABLED
    return text, ListenerChange.NOT_FOUND


def not_after(path: Path) -> dt.datetime:
    """Return the end of validity (UTC) of the PEM certificate at ``path``."""
    return x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc
