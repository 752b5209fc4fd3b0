"""The real mosquitto binary run with the production config (mosquitto/mosquitto.conf).

Only what cannot be the same outside the container is overridden: the listener (a free
loopback port), the container paths of the password file, ACL and persistence, and the user
(run as the invoking user rather than dropping to ``mosquitto``). Each override must match
exactly one line of the committed config, so a renamed directive fails the tests.

The TLS variant enables the ``listener 8883`` block the way ``sessionbeat broker tls`` does
(``enable_tls_listener``) and points it at a free port and the test's certificate files.
"""

from __future__ import annotations

import getpass
import re
import subprocess
from pathlib import Path

from sessionbeat.broker.embedded import find_mosquitto, free_port, wait_for_port
from sessionbeat.broker.tls import ListenerChange, TlsFiles, enable_tls_listener

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_CONF = REPO / "mosquitto" / "mosquitto.conf"


def render_production_config(
    port: int,
    passwd: Path,
    acl: Path,
    data_dir: Path,
    tls: tuple[int, TlsFiles] | None = None,
) -> str:
    """Return the production config with its container-only lines pointed at test paths.

    ``tls``: ``(port, files)`` of the TLS listener to enable, or None to leave it commented.
    """
    text = PRODUCTION_CONF.read_text(encoding="utf-8")
    overrides = {
        r"^listener 1883$": f"listener {port} 127.0.0.1",
        r"^password_file /mosquitto/config/passwd$": f"password_file {passwd}",
        r"^acl_file /mosquitto/config/acl$": f"acl_file {acl}",
        r"^persistence_location /mosquitto/data/$": f"persistence_location {data_dir}/",
    }
    if tls is not None:
        tls_port, files = tls
        text, change = enable_tls_listener(text)
        assert change is ListenerChange.ENABLED, change
        overrides |= {
            r"^listener 8883$": f"listener {tls_port} 127.0.0.1",
            r"^certfile /mosquitto/certs/server.crt$": f"certfile {files.server_cert}",
            r"^keyfile /mosquitto/certs/server.key$": f"keyfile {files.server_key}",
        }
    for pattern, line in overrides.items():
        text, count = re.subn(pattern, line, text, flags=re.MULTILINE)
        assert count == 1, f"{pattern} matched {count} lines of {PRODUCTION_CONF}"
    return text + f"\nuser {getpass.getuser()}\n"


class ProductionBroker:
    """mosquitto with the production config on 127.0.0.1:``port``; a context manager.

    With ``tls`` (the certificate files) the TLS listener is enabled too, on ``tls_port``.
    """

    def __init__(self, workdir: Path, passwd: Path, acl: Path, tls: TlsFiles | None = None) -> None:
        self.port = free_port()
        self.tls_port = free_port() if tls is not None else None
        self.workdir = workdir
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.out"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        listener = None if tls is None or self.tls_port is None else (self.tls_port, tls)
        self.config.write_text(
            render_production_config(self.port, passwd, acl, workdir / "data", listener)
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start mosquitto and wait until it listens (its output goes to ``self.log``)."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(find_mosquitto()), "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port("127.0.0.1", self.port, 10)
            if self.tls_port is not None:
                wait_for_port("127.0.0.1", self.tls_port, 10)
        except Exception:
            self.stop()
            raise AssertionError(self.output()) from None

    def output(self) -> str:
        """Everything mosquitto logged (log_dest stdout in the production config)."""
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> ProductionBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
