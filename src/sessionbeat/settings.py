"""The one settings object of sessionbeat (pydantic-settings).

Sources, highest priority first: arguments passed to :class:`Settings` (CLI flags), environment
variables with the prefix ``SESSIONBEAT_`` (``SESSIONBEAT_BROKER_URL`` ...), the TOML file named by
``SESSIONBEAT_CONFIG`` (default ``<user config dir>/sessionbeat/config.toml``), then defaults.
``state_dir`` is never read from the TOML file: the hook path reads no files to find the agent,
so only the environment (or the default) may move it.

Renamed settings are still read under their old name (:data:`RENAMED`) from the environment and
the TOML file, with a deprecation warning logged; the new name wins where both are set.

Build it once in ``main()`` with :func:`load_settings` and pass it down; nothing reads the
environment at import time.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import AliasChoices, AnyUrl, Field, SecretStr, UrlConstraints, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sessionbeat.errors import ConfigError
from sessionbeat.topics import is_valid_id, normalize_host_id

APP_NAME = "sessionbeat"
ENV_PREFIX = "SESSIONBEAT_"
CONFIG_ENV = "SESSIONBEAT_CONFIG"

MqttUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["mqtt", "mqtts"])]

RENAMED: dict[str, str] = {"keepalive_interval": "heartbeat_interval"}
"""Old setting name -> new name. The old one is still read (environment ``SESSIONBEAT_<OLD>``
and the TOML file), with a deprecation warning. ``keepalive_interval`` was renamed after 0.1.0 so
that "keepalive" means only the MQTT keepalive."""

log = logging.getLogger(__name__)

_URL_SEPARATOR = re.compile(r"\s+|,\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
"""Where a list of notification URLs splits: whitespace, or a comma before the next scheme."""

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
"""Host header names of this machine's loopback interface: the API always accepts them."""

WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
"""Bind addresses meaning "every interface": they name no host a client would use."""


def default_state_dir() -> Path:
    """Return the per-user state directory (platformdirs ``user_state_dir``, no app author)."""
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    """Return the default TOML config path: ``<user config dir>/sessionbeat/config.toml``."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def config_file() -> Path:
    """Return the TOML config file the settings read: ``SESSIONBEAT_CONFIG``, else the default.

    The file need not exist (then no setting comes from a file).
    """
    config = os.environ.get(CONFIG_ENV)
    return Path(config) if config else default_config_file()


def default_host_id() -> str:
    """Return the short hostname, lower-cased, other characters replaced by ``-``."""
    try:
        return normalize_host_id(socket.gethostname())
    except Exception:
        return "localhost"


def default_claude_config_dir() -> Path:
    """Return ``~/.claude``, Claude Code's default config dir (``CLAUDE_CONFIG_DIR`` overrides)."""
    return Path.home() / ".claude"


@dataclass(frozen=True)
class BrokerAddress:
    """A broker URL split for paho: ``tls`` is True for ``mqtts://``; port defaults 1883/8883."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    def display(self) -> str:
        """Return the URL without the password, for logs and messages."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def _take_renamed(data: dict[str, Any], where: str, spell: Callable[[str], str]) -> dict[str, Any]:
    """Move the values of old names (:data:`RENAMED`) in ``data`` to their new names, in place.

    ``where`` names the source for the log; ``spell`` writes a setting name as that source
    spells it (``SESSIONBEAT_HEARTBEAT_INTERVAL`` in the environment). A value under the new
    name already present wins. Logs one deprecation warning per old name found. Returns ``data``.
    """
    for old, new in RENAMED.items():
        if old in data:
            data.setdefault(new, data.pop(old))
            log.warning("%s (%s) is deprecated, use %s", spell(old), where, spell(new))
    return data


class _OldNames(BaseSettings):
    """The old names of :data:`RENAMED`, declared only to read them from the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    keepalive_interval: str | None = None


class _RenamedEnv(EnvSettingsSource):
    """Environment source of the old names (``SESSIONBEAT_KEEPALIVE_INTERVAL``), as new names."""

    def __init__(self) -> None:
        super().__init__(_OldNames)

    def __call__(self) -> dict[str, Any]:
        return _take_renamed(
            super().__call__(), "environment", lambda name: f"{ENV_PREFIX}{name.upper()}"
        )


class _TomlFile(TomlConfigSettingsSource):
    """TOML source that ignores ``state_dir`` (see module docstring) and reads old names."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        data.pop("state_dir", None)
        return _take_renamed(data, str(self.toml_file_path), str)


class Settings(BaseSettings):
    """Every setting of sessionbeat. Durations are seconds, sizes bytes, ports TCP ports."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    broker_url: MqttUrl = Field(
        default=AnyUrl("mqtt://127.0.0.1:1883"),
        description="MQTT broker, e.g. mqtt://user:pass@kai-server:1883 (mqtts:// for TLS)",
    )
    broker_ca_file: Path | None = Field(None, description="CA bundle for mqtts:// brokers")
    host: str = Field(default_factory=default_host_id, description="this machine's host id")
    site: str | None = Field(
        None, description="the site broker this host connects to (its bridge notifications)"
    )
    api_url: str = Field("http://127.0.0.1:8787", description="where CLI readers find the API")
    api_token: SecretStr | None = Field(None, description="bearer token guarding the HTTP API")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="more Host header names the API answers to (comma-separated; * for any)",
    )
    state_dir: Path = Field(default_factory=default_state_dir, description="local state")
    claude_config_dir: Path = Field(
        default_factory=default_claude_config_dir,
        validation_alias=AliasChoices(
            "SESSIONBEAT_CLAUDE_CONFIG_DIR", "CLAUDE_CONFIG_DIR", "claude_config_dir"
        ),
        description="Claude Code's config dir (honours CLAUDE_CONFIG_DIR)",
    )
    http_host: str = Field("127.0.0.1", description="aggregator HTTP bind address")
    http_port: int = Field(8787, ge=0, le=65535, description="aggregator HTTP port")
    dashboard_host: str = Field("127.0.0.1", description="Streamlit bind address")
    dashboard_port: int = Field(8501, ge=0, le=65535, description="Streamlit port")
    stale_after: float = Field(120.0, gt=0, description="no message for this long: stale")
    idle_after: float = Field(300.0, gt=0, description="no hook activity for this long: idle")
    reap_after: float = Field(1800.0, gt=0, description="no message for this long: reaped")
    ended_linger: float = Field(300.0, ge=0, description="ended sessions shown this long")
    max_sessions_per_host: int = Field(
        500, ge=1, description="live sessions one host may have; beats of more are rejected"
    )
    host_reap_after: float = Field(
        86400.0, gt=0, description="a host offline with no sessions is forgotten after this long"
    )
    heartbeat_interval: float = Field(
        30.0, gt=0, description="agent re-publishes quiet sessions (heartbeat)"
    )
    mqtt_keepalive: int = Field(30, ge=2, le=65535, description="MQTT keepalive of agent/aggr.")
    replay_grace: float = Field(
        3.0, ge=0, description="agent waits this long after a reconnect before replaying"
    )
    registry_watch: bool = Field(
        True, description="watch Claude's registry with file-system events (else poll it)"
    )
    registry_poll_interval: float = Field(
        2.0, gt=0, description="Claude registry scan period where events are unavailable"
    )
    include_detail: bool = Field(False, description="publish a truncated command for approvals")
    announce: bool = Field(
        False,
        description="agent answers `publish --announce`: a new session is told which other "
        "live sessions work on its repo (`hooks install --announce` sets it)",
    )
    detail_max_chars: int = Field(120, ge=8, le=2000, description="length cap of that detail")
    spool_max_bytes: int = Field(16 * 1024 * 1024, ge=4096, description="agent offline spool cap")
    lease_group: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="aggregators of one group on a broker share one reaper lease",
    )
    lease_keepalive: int = Field(
        5, ge=1, le=600, description="MQTT keepalive of the reaper lease connection (seconds)"
    )
    lease_settle: float = Field(
        1.0, ge=0, le=60, description="a claim of the lease must stand this long before it acts"
    )
    history_db: Path | None = Field(None, description="SQLite history (default in state_dir)")
    history_url: SecretStr | None = Field(
        None,
        description="shared history database instead of the SQLite file, a SQLAlchemy URL "
        "(postgresql+psycopg://user:pass@db:5432/sessionbeat); the notifier's ledger stays in "
        "the SQLite file",
    )
    history_keep_days: float = Field(30.0, gt=0, description="history rows older are deleted")
    metrics_max_repos_per_host: int = Field(
        20,
        ge=0,
        description="repo label values per host on /metrics; the host's other repositories "
        'add up into repo="other"',
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # -- notifications (the aggregator's notifier; README "Notifications") --------------------
    notify_urls: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Apprise URLs to push to (ntfy://, gotify://, pover://, json:// ...), "
        "separated by spaces; none: notifications off",
    )
    public_url: str | None = Field(
        None, description="the page's address as the phone reaches it, for links in pushes"
    )
    notify_grace: float = Field(
        5.0, ge=0, description="an approval answered within this long pushes nothing"
    )
    notify_batch_window: float = Field(
        1.0, ge=0, description="approvals due within this long of each other go out as one"
    )
    notify_needs_approval: bool = Field(True, description="push when a session waits for you")
    notify_turn_finished_after: float | None = Field(
        None, gt=0, description="push when a turn ends after working this long (off: unset)"
    )
    notify_host_offline: bool = Field(False, description="push when a host goes offline")
    notify_offline_grace: float = Field(
        60.0, ge=0, description="a host back online within this long pushes nothing"
    )
    notify_stuck_after: float | None = Field(
        None, gt=0, description="push when a session works with no sign of life this long"
    )
    notify_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="push only for these hosts (globs; comma-separated)"
    )
    notify_repos: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="push only for these repos (globs; comma-separated)"
    )
    notify_quiet_hours: str | None = Field(
        None, description="HH:MM-HH:MM in notify_timezone: pushes wait until it ends"
    )
    notify_timezone: str | None = Field(
        None, description="IANA zone of the quiet hours (default: this machine's)"
    )
    notify_session_interval: float = Field(
        60.0, ge=0, description="at most one push per session this often (later ones wait)"
    )
    notify_answered_followup: bool = Field(
        False, description="where a push cannot be withdrawn, send a short 'answered' one"
    )
    notify_timeout: float = Field(10.0, gt=0, description="seconds one delivery may take")
    notify_attempts: int = Field(5, ge=1, le=20, description="tries per delivery (backoff)")

    @field_validator(
        "api_token", "public_url", "notify_quiet_hours", "notify_timezone", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("notify_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        # Spaces separate URLs; a comma too where a new URL follows it (a query may hold
        # commas, e.g. ntfy's ?tags=a,b).
        if isinstance(value, str):
            return [url for url in _URL_SEPARATOR.split(value) if url.strip()]
        return value

    @field_validator("allowed_hosts", "notify_hosts", "notify_repos", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("notify_quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        quiet_hours(value)  # raises ValueError with the reason
        return value.strip()

    @field_validator("notify_timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(
                    f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)"
                ) from exc
        return value or None

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if not is_valid_id(value):
            raise ValueError("host id must match [A-Za-z0-9_.-]{1,64}")
        return value

    @field_validator("site")
    @classmethod
    def _check_site(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not is_valid_id(value):
            raise ValueError("site id must match [A-Za-z0-9_.-]{1,64}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources: init args, environment (new names, then old), the TOML file."""
        path = config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, _RenamedEnv()]
        if path.is_file():
            sources.append(_TomlFile(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def broker(self) -> BrokerAddress:
        """The broker URL split into host, port, credentials and TLS flag."""
        url = self.broker_url
        tls = url.scheme == "mqtts"
        return BrokerAddress(
            host=url.host or "127.0.0.1",
            port=url.port or (8883 if tls else 1883),
            username=url.username,
            password=url.password,
            tls=tls,
        )

    def trusted_hosts(self, bind: str) -> list[str]:
        """Return the ``Host`` header names the API accepts when it listens on ``bind``, sorted.

        The loopback names (:data:`LOOPBACK_HOSTS`), this machine's hostname (in full and its
        first label, lower-cased), ``bind`` itself unless it is a wildcard such as ``0.0.0.0``
        (an IPv6 address in brackets, as a ``Host`` header carries it), and ``allowed_hosts``.
        A request naming another host is refused (HTTP 400), so a web page whose name was made
        to resolve to this machine (DNS rebinding) reads nothing; ``*`` in ``allowed_hosts``
        turns the check off.
        """
        names = set(LOOPBACK_HOSTS)
        machine = socket.gethostname().lower()
        if machine:
            names |= {machine, machine.split(".")[0]}
        if bind not in WILDCARD_BINDS:
            names.add(f"[{bind.strip('[]')}]" if ":" in bind else bind.lower())
        names |= {name.lower() for name in self.allowed_hosts}
        return sorted(names)

    def history_url_value(self) -> str | None:
        """Return ``history_url`` in clear (None when unset or empty: the SQLite file)."""
        if self.history_url is None:
            return None
        return self.history_url.get_secret_value().strip() or None

    @property
    def history_path(self) -> Path:
        """The SQLite history file: ``history_db`` or ``<state_dir>/history.sqlite3``."""
        return self.history_db or self.state_dir / "history.sqlite3"


def quiet_hours(text: str) -> tuple[time, time]:
    """Parse ``HH:MM-HH:MM`` (24-hour clock) into its start and end times.

    The span may cross midnight (``22:00-07:00``). Raises ``ValueError`` naming the problem when
    the text is not of that form, a time is out of range, or start equals end.
    """
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
    if match is None:
        raise ValueError(f"quiet hours {text!r} are not HH:MM-HH:MM, e.g. 22:00-07:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError as exc:
        raise ValueError(f"quiet hours {text!r}: {exc}") from exc
    if start == end:
        raise ValueError(f"quiet hours {text!r} start and end at the same time")
    return start, end


def load_settings(**overrides: Any) -> Settings:
    """Build the Settings from flags (``overrides``; ``None`` values are ignored), env and file.

    Raises ``ConfigError`` with a readable message when a value is invalid or the TOML file does
    not parse.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except Exception as exc:  # pydantic ValidationError, tomllib.TOMLDecodeError, OSError
        raise ConfigError(f"invalid configuration: {exc}") from exc
