"""The embedded local Mosquitto: find the binary, render the config, start and stop it.

Used by ``sessionbeat up`` (the quick-start stack) and by the test suite (a real broker on a free
port per test session). The config template is ``local.conf`` beside this module.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from sessionbeat.errors import BrokerUnavailableError, NotFoundError

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "mosquitto is not installed. Install it with:\n"
    "  Debian/Ubuntu: sudo apt-get install -y mosquitto mosquitto-clients\n"
    "  macOS:         brew install mosquitto   (binary in $(brew --prefix)/sbin)\n"
    "or point SESSIONBEAT_BROKER_URL at an existing broker."
)

LOCAL_CONFIG = Path(__file__).with_name("local.conf")
"""The embedded broker's config template (loopback only, ``{port}``/``{bind}``/``{data_dir}``)."""

_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin")


def find_mosquitto() -> Path:
    """Return the path of the ``mosquitto`` binary (PATH, then the usual sbin dirs).

    Raises ``NotFoundError`` carrying :data:`INSTALL_HINT` when there is none.
    """
    found = shutil.which("mosquitto")
    if found:
        return Path(found)
    for directory in _EXTRA_DIRS:
        candidate = Path(directory) / "mosquitto"
        if candidate.is_file():
            return candidate
    raise NotFoundError(INSTALL_HINT)


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float) -> None:
    """Block until a TCP connect to ``host:port`` succeeds; raises ``BrokerUnavailableError``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(f"nothing listens on {host}:{port}: {exc}") from exc
            time.sleep(0.02)


def render_local_config(
    port: int, data_dir: Path, bind: str = "127.0.0.1", user: str | None = None, extra: str = ""
) -> str:
    """Return the embedded broker's ``local.conf`` with its placeholders filled in.

    ``extra`` is appended as is: more Mosquitto directives, one per line (e.g. the production
    config's ``max_packet_size 262144``).
    """
    template = LOCAL_CONFIG.read_text(encoding="utf-8")
    text = template.format(
        port=port, bind=bind, data_dir=str(data_dir), user=user or getpass.getuser()
    )
    return f"{text}\n{extra}\n" if extra else text


class LocalBroker:
    """A Mosquitto process on loopback with its config and data in ``data_dir``.

    ``port`` 0 picks a free port. Use as a context manager, or call :meth:`start`/:meth:`stop`.
    :meth:`stop` and :meth:`start` again keep the data dir, so retained messages survive
    (persistence is on). ``extra_config`` holds more Mosquitto directives appended to the
    config (see :func:`render_local_config`).
    """

    def __init__(
        self, data_dir: Path, port: int = 0, bind: str = "127.0.0.1", extra_config: str = ""
    ) -> None:
        self.data_dir = data_dir
        self.bind = bind
        self.extra_config = extra_config
        self.port = port or free_port(bind)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker URL for ``SESSIONBEAT_BROKER_URL``, e.g. ``mqtt://127.0.0.1:1883``."""
        return f"mqtt://{self.bind}:{self.port}"

    @property
    def config_path(self) -> Path:
        """The rendered config file."""
        return self.data_dir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        """Mosquitto's log file."""
        return self.data_dir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections.

        Raises ``NotFoundError`` if the binary is missing and ``BrokerUnavailableError`` if it
        exits or does not listen within ``timeout`` seconds (the log tail is in the message).
        """
        binary = find_mosquitto()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            render_local_config(self.port, self.data_dir, self.bind, extra=self.extra_config),
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [str(binary), "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.bind, self.port, timeout)
        except BrokerUnavailableError as exc:
            self.stop()
            raise BrokerUnavailableError(f"{exc}\n{self.log_tail()}") from exc
        if self.process.poll() is not None:
            raise BrokerUnavailableError(f"mosquitto exited at start\n{self.log_tail()}")
        log.info("mosquitto %s listening on %s", self.process.pid, self.url)

    def log_tail(self, lines: int = 20) -> str:
        """Return the last lines of mosquitto's log file and stderr, for error messages."""
        out = []
        with contextlib.suppress(OSError):
            out += self.log_path.read_text(errors="replace").splitlines()[-lines:]
        if self.process is not None and self.process.poll() is not None and self.process.stderr:
            with contextlib.suppress(OSError, ValueError):
                out += self.process.stderr.read().decode(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop mosquitto with SIGTERM (it saves its database), SIGKILL after ``timeout``."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr:
            process.stderr.close()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
