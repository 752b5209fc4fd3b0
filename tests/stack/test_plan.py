"""Which broker `up` uses and what its children get, from the settings and flags (stack/plan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionbeat.errors import ConfigError
from sessionbeat.settings import load_settings
from sessionbeat.stack.plan import StackPlan, plan_stack

NAMED = "mqtt://kai-server:1884"
"""A broker some setting names."""


def settings_from(source: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """Name the broker ``NAMED`` in one place (``flag`` is returned to pass on); else nothing."""
    if source == "env":
        monkeypatch.setenv("SESSIONBEAT_BROKER_URL", NAMED)
    elif source == "toml":
        (isolated_env / "config.toml").write_text(f'broker_url = "{NAMED}"\n')
    return NAMED if source in ("root flag", "up flag") else None


def plan_for(source: str, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> StackPlan:
    """Return the plan of `up --broker-port 1999` with the broker named in ``source``.

    ``source`` is ``none``, ``root flag`` (`sessionbeat --broker-url X up`: the settings carry
    it and the command passes it on, as stack/cli.py does), ``up flag``, ``env`` or ``toml``.
    """
    flag = settings_from(source, isolated_env, monkeypatch)
    settings = load_settings(broker_url=flag if source == "root flag" else None)
    return plan_stack(settings, broker_url=flag, broker_port=1999)


@pytest.mark.parametrize(
    ("source", "embedded", "broker_url", "demo_flag"),
    [
        ("none", True, "mqtt://127.0.0.1:1999", True),
        ("root flag", False, NAMED, True),
        ("up flag", False, NAMED, True),
        ("env", False, NAMED, False),
        ("toml", False, NAMED, False),
    ],
)
def test_the_broker_the_settings_name_replaces_the_embedded_one(
    source: str,
    embedded: bool,
    broker_url: str,
    demo_flag: bool,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A broker named by either --broker-url, the env or the TOML file: no Mosquitto of its own.

    The children get that broker; a later `demo` needs --broker-url only when a flag named it
    or the embedded one is not on the default port.
    """
    plan = plan_for(source, isolated_env, monkeypatch)
    assert (plan.embedded, plan.broker_url, plan.demo_needs_broker_url) == (
        embedded,
        broker_url,
        demo_flag,
    )
    env = plan.child_env({"PATH": "/bin", "SESSIONBEAT_BROKER_URL": "mqtt://stale:1"})
    assert env["SESSIONBEAT_BROKER_URL"] == broker_url
    assert env["PATH"] == "/bin"


def test_the_up_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`up --broker-url` beats SESSIONBEAT_BROKER_URL, as flags do everywhere."""
    monkeypatch.setenv("SESSIONBEAT_BROKER_URL", "mqtt://env-broker:1883")
    plan = plan_stack(load_settings(), broker_url=NAMED)
    assert plan.broker_url == NAMED


def test_the_embedded_broker_on_its_default_port_needs_no_flag_for_the_demo() -> None:
    """Plain `up`: the banner's `sessionbeat demo` finds the broker without a flag."""
    plan = plan_stack(load_settings())
    assert (plan.embedded, plan.broker_url) == (True, "mqtt://127.0.0.1:1883")
    assert not plan.demo_needs_broker_url
    assert plan.with_broker_port(1999).demo_needs_broker_url


def test_a_bad_broker_url_flag_is_a_config_error() -> None:
    """`up --broker-url http://x` exits 2 with a message instead of a traceback."""
    with pytest.raises(ConfigError, match="invalid --broker-url"):
        plan_stack(load_settings(), broker_url="http://kai-server:1883")


def test_no_password_leaves_the_plan_for_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker's password reaches the children only: never stack.json or the banner."""
    monkeypatch.setenv("SESSIONBEAT_BROKER_URL", "mqtt://kai:s3cret@kai-server:1883")
    plan = plan_stack(load_settings())
    assert "s3cret" in plan.child_env({})["SESSIONBEAT_BROKER_URL"]
    assert plan.urls()["broker"] == "mqtt://kai@kai-server:1883"
    assert "s3cret" not in str(plan.urls())


@pytest.mark.parametrize(
    ("ports", "agent", "dashboard", "started", "page_port"),
    [
        ((None, None), True, True, ["aggregator", "agent", "dashboard"], "8501"),
        ((9001, 9002), True, True, ["aggregator", "agent", "dashboard"], "9002"),
        ((None, None), True, False, ["aggregator", "agent"], None),
        ((None, None), False, True, ["aggregator", "dashboard"], "8501"),
    ],
)
def test_children_start_in_order_on_the_ports_asked(
    ports: tuple[int | None, int | None],
    agent: bool,
    dashboard: bool,
    started: list[str],
    page_port: str | None,
) -> None:
    """Aggregator, agent, page in that order; --no-agent/--no-dashboard leave one out."""
    port, dashboard_port = ports
    plan = plan_stack(
        load_settings(), port=port, dashboard_port=dashboard_port, agent=agent, dashboard=dashboard
    )
    steps = plan.steps()
    api = str(port or 8787)
    assert [s.name for s in steps] == started
    assert steps[0].args[-1] == api and steps[0].health_url == f"http://127.0.0.1:{api}/healthz"
    assert plan.child_env({})["SESSIONBEAT_API_URL"] == f"http://127.0.0.1:{api}"
    page = next((s for s in steps if s.name == "dashboard"), None)
    assert (page.args[-1] if page else None) == page_port
    assert ("dashboard" in plan.urls()) is dashboard


def test_the_children_share_the_stack_state_dir(isolated_env: Path) -> None:
    """Agent, aggregator and page keep their state (and the agent its socket) in up's dir."""
    plan = plan_stack(load_settings())
    assert plan.child_env({})["SESSIONBEAT_STATE_DIR"] == str(isolated_env / "state")
    assert plan.broker_dir == isolated_env / "state" / "broker"
