"""`sessionbeat up` (the embedded local stack) and `sessionbeat demo`, as real processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest
from typer.testing import CliRunner

from sessionbeat.broker import embedded as broker_module
from sessionbeat.broker.embedded import LocalBroker, free_port
from sessionbeat.cli import app
from tests.conftest import short_tmpdir
from tests.procs import SCRIPT, Proc, wait_until

pytestmark = pytest.mark.slow


def test_up_starts_everything_demo_fills_it_and_ctrl_c_stops_all() -> None:
    """Up starts broker, aggregator, agent, page; doctor passes at once; demo; Ctrl-C cleans up."""
    state = short_tmpdir()
    mqtt, api, page = free_port(), free_port(), free_port()
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state))
    env.pop("SESSIONBEAT_BROKER_URL", None)
    up = Proc(
        [
            SCRIPT,
            "up",
            "--broker-port",
            str(mqtt),
            "--port",
            str(api),
            "--dashboard-port",
            str(page),
        ],
        env,
        state / "up.log",
    )
    try:
        wait_until(lambda: "Ctrl-C stops everything" in up.output() or up.popen.poll(), 60)
        # Doctor at once, as a user would: the agent has said it is connected.
        doctor = subprocess.run(
            [
                SCRIPT,
                "--broker-url",
                f"mqtt://127.0.0.1:{mqtt}",
                "--api-url",
                f"http://127.0.0.1:{api}",
                "doctor",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        checks = {c["name"]: c for c in json.loads(doctor.stdout)}
        assert checks["agent"]["level"] == "ok", checks["agent"]
        out = up.output()
        assert f"mosquitto_sub -h 127.0.0.1 -p {mqtt} -v -t 'sessionbeat/#'" in out
        assert f"http://127.0.0.1:{api}/sessions" in out
        assert httpx.get(f"http://127.0.0.1:{api}/healthz").json()["broker_connected"]
        assert _answers(f"http://127.0.0.1:{page}/_stcore/health")  # the banner waited for it
        try_line = next(line for line in out.splitlines() if line.strip().startswith("try"))
        command = try_line.split()[1]  # what the banner says to run works from here
        assert shutil.which(command) or os.access(command, os.X_OK), try_line
        children = psutil.Process(up.pid).children(recursive=True)
        assert len(children) >= 4  # mosquitto, aggregator, agent, dashboard

        # The demo exactly as the banner says (the broker is not on the default port, so the
        # line carries --broker-url), with no broker in the environment.
        said_demo = try_line.split("(", 1)[0].split()[1:]
        assert said_demo[-3:] == ["--broker-url", f"mqtt://127.0.0.1:{mqtt}", "demo"], try_line
        done = subprocess.run(
            [*said_demo, "--delay", "0", "--linger", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        shown = httpx.get(f"http://127.0.0.1:{api}/sessions", params={"all": "true"}).json()
        demo_hosts = {"macbook", "kai-server", "winbox"}
        assert demo_hosts <= {s["host"] for s in shown}
        said = int(done.stdout.split("demo: ", 1)[1].split()[0])  # "demo: 12 recorded sessions"
        assert said == len([s for s in shown if s["host"] in demo_hosts])
    finally:
        up.signal(signal.SIGINT)
        code = up.popen.wait(30)
        up.stop()
    assert code == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_up_uses_the_broker_the_settings_name_and_refuses_a_second_stack(
    broker: LocalBroker, isolated_env: Path
) -> None:
    """broker_url in the config file: no Mosquitto of its own; a second up names the first."""
    (isolated_env / "config.toml").write_text(f'broker_url = "{broker.url}"\n')
    state = short_tmpdir()
    api = free_port()
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state))
    argv = [SCRIPT, "up", "--port", str(api), "--no-dashboard"]
    first = Proc(argv, env, state / "up.log")
    try:
        wait_until(lambda: "Ctrl-C stops everything" in first.output() or first.popen.poll(), 60)
        out = first.output()
        assert f"broker      {broker.url}" in out and "embedded" not in out
        assert not (state / "broker").exists()  # no Mosquitto of its own
        assert _children_brokers(first.pid) == {"aggregator": broker.url, "agent": broker.url}
        second = subprocess.run(
            [SCRIPT, "up", "--broker-port", str(free_port()), "--port", str(free_port())],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert "sessionbeat up already runs" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert f"http://127.0.0.1:{api}" in second.stderr
        assert "sessionbeat is up" not in second.stdout
        assert not (state / "broker").exists()  # nothing was started
    finally:
        first.signal(signal.SIGINT)
        first.popen.wait(30)
        first.stop()


def _children_brokers(pid: int) -> dict[str, str | None]:
    """Return each sessionbeat child of ``pid`` (by command) with the broker URL it was given.

    A Mosquitto of the stack's own shows up as ``mosquitto``; other processes are left out.
    """
    out: dict[str, str | None] = {}
    for child in psutil.Process(pid).children(recursive=True):
        argv = child.cmdline()
        if argv[1:3] == ["-m", "sessionbeat"]:
            out[argv[3]] = child.environ().get("SESSIONBEAT_BROKER_URL")
        elif child.name() == "mosquitto":
            out["mosquitto"] = None
    return out


@pytest.mark.parametrize("named_by", ["root flag", "up flag", "env"])
def test_up_hands_the_broker_a_flag_or_the_env_names_to_its_children(
    named_by: str, broker: LocalBroker
) -> None:
    """`sessionbeat --broker-url X up`, `up --broker-url X`, SESSIONBEAT_BROKER_URL=X: X is used.

    No Mosquitto of its own; the aggregator and the agent connect to X (the aggregator says so
    on /healthz). The TOML case is the test above.
    """
    state = short_tmpdir()
    api = free_port()
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state))
    root = ["--broker-url", broker.url] if named_by == "root flag" else []
    own = ["--broker-url", broker.url] if named_by == "up flag" else []
    if named_by == "env":
        env["SESSIONBEAT_BROKER_URL"] = broker.url
    argv = [SCRIPT, *root, "up", *own, "--port", str(api), "--no-dashboard"]
    up = Proc([*argv, "--broker-port", str(free_port())], env, state / "up.log")
    try:
        wait_until(lambda: "Ctrl-C stops everything" in up.output() or up.popen.poll(), 60)
        out = up.output()
        assert f"broker      {broker.url}\n" in out, out
        assert _children_brokers(up.pid) == {"aggregator": broker.url, "agent": broker.url}
        assert httpx.get(f"http://127.0.0.1:{api}/healthz").json()["broker_connected"]
        assert not (state / "broker").exists()
    finally:
        up.signal(signal.SIGINT)
        code = up.popen.wait(30)
        up.stop()
    assert code == 0


def test_up_without_mosquitto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """No mosquitto binary: up exits 2 with apt and brew instructions."""
    monkeypatch.setenv("PATH", str(short_tmpdir()))
    monkeypatch.setattr(broker_module, "_EXTRA_DIRS", ())
    result = CliRunner().invoke(app, ["up", "--broker-port", str(free_port())])
    assert result.exit_code == 2
    assert "apt-get install -y mosquitto mosquitto-clients" in result.output
    assert "brew install mosquitto" in result.output


def test_up_refuses_a_busy_broker_port() -> None:
    """If the broker port is taken (a system mosquitto), up says so instead of failing later."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["up", "--broker-port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} is in use" in result.output


def test_demo_stopped_with_sigterm_leaves_no_agents(broker: LocalBroker) -> None:
    """SIGTERM to a running demo stops its three agents too (nothing orphaned)."""
    state = short_tmpdir()
    env = dict(os.environ, SESSIONBEAT_STATE_DIR=str(state), SESSIONBEAT_BROKER_URL=broker.url)
    demo = Proc([SCRIPT, "demo", "--delay", "0.2", "--linger", "60"], env, state / "demo.log")
    try:
        wait_until(lambda: "demo:" in demo.output(), 60)
        agents = [
            c for c in psutil.Process(demo.pid).children(recursive=True) if "agent" in c.cmdline()
        ]
        assert len(agents) == 3
        demo.signal(signal.SIGTERM)
        demo.popen.wait(30)
    finally:
        demo.stop()
    assert not [a for a in agents if a.is_running() and a.status() != psutil.STATUS_ZOMBIE]
