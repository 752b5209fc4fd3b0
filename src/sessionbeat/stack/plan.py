"""What ``sessionbeat up`` starts and where, decided from the settings and its flags (pure).

The broker: the one the settings name, whatever named it (the root ``--broker-url``, ``up``'s
own ``--broker-url``, ``SESSIONBEAT_BROKER_URL`` or ``broker_url`` in the TOML file: the
settings object's explicitly set fields), else a Mosquitto of the stack's own on
``127.0.0.1:<broker_port>``. Then the aggregator, this host's agent and the dashboard, in that
order, each with the broker URL, state dir and API URL in its environment. No I/O here: the
supervisor (:mod:`sessionbeat.stack.supervisor`) runs the plan. See docs/architecture.md
("The local stack").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from sessionbeat.errors import ConfigError
from sessionbeat.settings import ENV_PREFIX, BrokerAddress, MqttUrl, Settings

EMBEDDED_HOST = "127.0.0.1"
"""The embedded Mosquitto listens on loopback only (``broker/local.conf``)."""

DEFAULT_BROKER_PORT = 1883
"""The embedded Mosquitto's port unless ``--broker-port`` says otherwise (MQTT's own port)."""


@dataclass(frozen=True, slots=True)
class ChildStep:
    """One child process of the stack, started once the one before answers.

    ``name`` names its log file (``<log_dir>/<name>.log``) and the messages about it; ``args``
    are the ``sessionbeat`` arguments; ``health_url`` answers once it is ready (None: the agent,
    ready once its status file says connected); ``timeout`` is how long it may take, seconds.
    """

    name: str
    args: tuple[str, ...]
    health_url: str | None
    timeout: float


@dataclass(frozen=True, slots=True)
class StackPlan:
    """What ``sessionbeat up`` runs, built by :func:`plan_stack`.

    ``settings`` carry ``up``'s own flags (ports, broker URL); ``embedded`` is True when the
    stack starts a Mosquitto of its own on ``127.0.0.1:<broker_port>`` (port 0: a free one,
    filled in with :meth:`with_broker_port` once it runs); ``agent`` and ``dashboard`` say
    whether those children start; ``flag_broker`` is True when a command-line flag named the
    broker (a later command from this shell then needs the flag too).
    """

    settings: Settings
    embedded: bool
    broker_port: int = DEFAULT_BROKER_PORT
    agent: bool = True
    dashboard: bool = True
    flag_broker: bool = False

    @property
    def broker_address(self) -> BrokerAddress:
        """Where the children connect: the embedded Mosquitto, else the settings' broker."""
        if self.embedded:
            return BrokerAddress(EMBEDDED_HOST, self.broker_port, None, None, tls=False)
        return self.settings.broker

    @property
    def broker_url(self) -> str:
        """The broker URL the children get, credentials included (never print it)."""
        if self.embedded:
            return f"mqtt://{EMBEDDED_HOST}:{self.broker_port}"
        return str(self.settings.broker_url)

    @property
    def broker_display(self) -> str:
        """The broker URL without its password, for the banner, messages and ``stack.json``."""
        return self.broker_address.display()

    @property
    def api_url(self) -> str:
        """The aggregator's HTTP API, e.g. ``http://127.0.0.1:8787``."""
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    @property
    def dashboard_url(self) -> str | None:
        """The Streamlit page, e.g. ``http://127.0.0.1:8501``; None without a dashboard."""
        if not self.dashboard:
            return None
        return f"http://{self.settings.dashboard_host}:{self.settings.dashboard_port}"

    @property
    def state_dir(self) -> Path:
        """The state dir the stack's lock, logs and embedded broker live in."""
        return self.settings.state_dir

    @property
    def log_dir(self) -> Path:
        """Where each child's output goes: ``<state_dir>/logs/<name>.log``."""
        return self.settings.state_dir / "logs"

    @property
    def broker_dir(self) -> Path:
        """The embedded Mosquitto's config, database and log: ``<state_dir>/broker``."""
        return self.settings.state_dir / "broker"

    @property
    def demo_needs_broker_url(self) -> bool:
        """True when ``sessionbeat demo`` run from this shell would miss the stack's broker.

        A broker named by a flag is not seen by a later command; an embedded one on another
        port than the settings' broker neither. One named by the environment or the TOML file
        is seen by the demo too.
        """
        if self.flag_broker:
            return True
        if not self.embedded:
            return False
        mine, settings = self.broker_address, self.settings.broker
        return (mine.host, mine.port) != (settings.host, settings.port)

    def with_broker_port(self, port: int) -> StackPlan:
        """Return the plan with the port the embedded Mosquitto actually got."""
        return replace(self, broker_port=port)

    def urls(self) -> dict[str, str]:
        """Return what ``stack.json`` records: ``api``, ``dashboard`` (if any) and ``broker``.

        The broker without its password: a second ``up`` prints these.
        """
        page = {"dashboard": self.dashboard_url} if self.dashboard_url else {}
        return {"api": self.api_url, **page, "broker": self.broker_display}

    def steps(self) -> list[ChildStep]:
        """Return the children in start order: aggregator, agent (if any), dashboard (if any)."""
        s = self.settings
        out = [
            ChildStep(
                "aggregator",
                ("aggregator", "--bind", s.http_host, "--port", str(s.http_port)),
                f"{self.api_url}/healthz",
                30.0,
            )
        ]
        if self.agent:
            out.append(ChildStep("agent", ("agent", "run"), None, 30.0))
        if self.dashboard_url:
            out.append(
                ChildStep(
                    "dashboard",
                    ("dashboard", "--bind", s.dashboard_host, "--port", str(s.dashboard_port)),
                    f"{self.dashboard_url}/_stcore/health",
                    60.0,
                )
            )
        return out

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return the children's environment: ``base`` plus the stack's broker, state and API."""
        return sessionbeat_env(base, self.settings, self.broker_url)


def sessionbeat_env(base: Mapping[str, str], settings: Settings, broker_url: str) -> dict[str, str]:
    """Return ``base`` with ``SESSIONBEAT_BROKER_URL``, ``_STATE_DIR`` and ``_API_URL`` set.

    ``broker_url`` is the URL the child connects to; the state dir and the API URL (from
    ``http_host``/``http_port``) come from ``settings``. A child started with it needs no flag.
    """
    env = dict(base)
    env[f"{ENV_PREFIX}BROKER_URL"] = broker_url
    env[f"{ENV_PREFIX}STATE_DIR"] = str(settings.state_dir)
    env[f"{ENV_PREFIX}API_URL"] = f"http://{settings.http_host}:{settings.http_port}"
    return env


_MQTT_URL: TypeAdapter[MqttUrl] = TypeAdapter(MqttUrl)


def plan_stack(
    settings: Settings,
    *,
    broker_url: str | None = None,
    port: int | None = None,
    dashboard_port: int | None = None,
    broker_port: int = DEFAULT_BROKER_PORT,
    dashboard: bool = True,
    agent: bool = True,
) -> StackPlan:
    """Return what ``up`` runs, from the settings and its flags.

    ``broker_url`` is a broker URL given on the command line (``up``'s or the root's
    ``--broker-url``; None: none); ``port`` and ``dashboard_port`` replace the settings'
    ``http_port`` and ``dashboard_port`` when given; ``broker_port`` is the embedded
    Mosquitto's port. The broker is embedded unless ``broker_url`` is given or the settings set
    ``broker_url`` explicitly (environment or TOML file). Raises ``ConfigError`` for a
    ``broker_url`` that is not an ``mqtt://`` or ``mqtts://`` URL.
    """
    updates: dict[str, object] = {}
    if port is not None:
        updates["http_port"] = port
    if dashboard_port is not None:
        updates["dashboard_port"] = dashboard_port
    if broker_url is not None:
        try:
            updates["broker_url"] = _MQTT_URL.validate_python(broker_url)
        except ValidationError as exc:
            raise ConfigError(f"invalid --broker-url {broker_url!r}: {exc}") from None
    resolved = settings.model_copy(update=updates)
    return StackPlan(
        settings=resolved,
        embedded="broker_url" not in resolved.model_fields_set,
        broker_port=broker_port,
        agent=agent,
        dashboard=dashboard,
        flag_broker=broker_url is not None,
    )
