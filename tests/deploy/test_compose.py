"""compose.yaml, Dockerfile and .env.example: valid, consistent, and their configs accepted.

No Docker engine runs here. compose.yaml is validated against the Compose Specification's JSON
schema as shipped by check-jsonschema (``vendor.compose-spec``), every file it mounts must
exist, the mounted paths must agree with the configs that name them, and the real mosquitto
binary must accept the production config and answer compose's healthcheck command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import dockerfile
import httpx
import pytest
import yaml

from sessionbeat import __version__
from sessionbeat.broker.cli import DEFAULT_PASSWD
from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import running, wait_until
from tests.conftest import short_tmpdir
from tests.deploy.prod_broker import ProductionBroker
from tests.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "compose.yaml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
BIND = "${SESSIONBEAT_BIND_ADDRESS:?set SESSIONBEAT_BIND_ADDRESS in .env}"
GENERATED = {DEFAULT_PASSWD}
"""Mounted files that are not in git: made on the server by `sessionbeat broker add-*`."""


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> repository-relative source of a service's ``./`` bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_mode = volume.split(":")
        if source.startswith("./"):
            mounts[target] = source[2:]
    return mounts


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_follows_the_compose_specification() -> None:
    """compose.yaml validates against the Compose Specification JSON schema."""
    result = validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    """The same check fails on a misspelt key, so the validation above really ran."""
    broken = compose()
    broken["services"]["mosquitto"]["healthcheck"]["intervall"] = "30s"
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = validate(path)
    assert result.returncode == 1
    assert "intervall" in result.stdout + result.stderr


def test_the_stack_has_every_service() -> None:
    """Broker, aggregator, dashboard, Prometheus and Grafana run, with named data volumes.

    The profile ``ha`` adds a second aggregator on the same broker and history.
    """
    assert set(services()) == {
        "mosquitto",
        "aggregator",
        "aggregator-2",
        "dashboard",
        "prometheus",
        "grafana",
    }
    assert services()["aggregator-2"]["profiles"] == ["ha"]
    assert bind_mounts(services()["aggregator-2"]) == bind_mounts(services()["aggregator"])
    assert services()["aggregator-2"]["volumes"] == services()["aggregator"]["volumes"]
    assert set(compose()["volumes"]) == {
        "mosquitto-data",
        "aggregator-data",
        "prometheus-data",
        "grafana-data",
    }


@pytest.mark.parametrize(
    "name", ["mosquitto", "aggregator", "aggregator-2", "dashboard", "prometheus", "grafana"]
)
def test_service_is_pinned_healthchecked_restarted_and_bound(name: str) -> None:
    """Each service has a pinned image tag, a healthcheck, a restart policy, bound ports."""
    service = services()[name]
    tag = service["image"].partition(":")[2]
    assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), service["image"]
    assert service["restart"] == "unless-stopped"
    assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")
    for port in service["ports"]:
        assert port.startswith(f"{BIND}:"), port


def test_built_image_is_tagged_with_the_package_version() -> None:
    """Aggregator and dashboard run the image built from this repository, tagged as released."""
    for name in ("aggregator", "dashboard"):
        assert services()[name]["build"] == "."
        assert services()[name]["image"] == f"sessionbeat:{__version__}"


def test_every_mounted_file_exists() -> None:
    """Each ./ bind mount names a file or directory of the repository (or a generated one)."""
    for name, service in services().items():
        for source in bind_mounts(service).values():
            path = Path(source)
            if path in GENERATED:
                assert (
                    subprocess.run(
                        ["git", "check-ignore", "-q", source], cwd=REPO, check=False
                    ).returncode
                    == 0
                ), f"{source} holds secrets and must be git-ignored"
                continue
            assert (REPO / path).exists(), f"{name} mounts missing {source}"


def test_mosquitto_mounts_match_its_config() -> None:
    """The config's password file, ACL and persistence paths are the ones compose mounts."""
    service = services()["mosquitto"]
    mounts = bind_mounts(service)
    conf = (REPO / "mosquitto/mosquitto.conf").read_text()
    directives = dict(
        line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#")
    )
    assert mounts["/mosquitto/config/mosquitto.conf"] == "mosquitto/mosquitto.conf"
    assert mounts[directives["password_file"]] == str(DEFAULT_PASSWD)
    assert mounts[directives["acl_file"]] == "mosquitto/acl"
    assert f"mosquitto-data:{directives['persistence_location'].rstrip('/')}" in service["volumes"]


def test_prometheus_mounts_match_its_config() -> None:
    """prometheus.yml, its rule files and the API token file are where the config says."""
    service = services()["prometheus"]
    mounts = bind_mounts(service)
    config = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    assert "--config.file=/etc/prometheus/prometheus.yml" in service["command"]
    assert mounts["/etc/prometheus/prometheus.yml"] == "prometheus/prometheus.yml"
    for pattern in config["rule_files"]:  # relative to the config file's directory
        directory = str(Path("/etc/prometheus") / pattern).rsplit("/", 1)[0]
        assert mounts[directory] == "prometheus/" + pattern.rsplit("/", 1)[0]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "sessionbeat")
    (config_mount,) = service["configs"]
    assert config_mount["target"] == job["authorization"]["credentials_file"]
    assert compose()["configs"][config_mount["source"]] == {"environment": "SESSIONBEAT_API_TOKEN"}
    aggregator_port = services()["aggregator"]["command"][-1]
    assert job["static_configs"][0]["targets"] == [f"aggregator:{aggregator_port}"]


def test_grafana_mounts_match_its_provisioning() -> None:
    """Grafana finds the provisioning files and the dashboard directory its provider reads."""
    mounts = bind_mounts(services()["grafana"])
    assert mounts["/etc/grafana/provisioning"] == "grafana/provisioning"
    provider = yaml.safe_load(
        (REPO / "grafana/provisioning/dashboards/sessionbeat.yml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == "grafana/dashboards"
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "grafana/dashboards" / Path(home).relative_to(path)).is_file()


def test_env_example_documents_every_variable() -> None:
    """Every ${VAR} of compose.yaml appears in .env.example; the required ones are set there."""
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^#?([A-Z_]+)=", example, flags=re.MULTILINE))
    assigned = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    assert used - documented == set()
    assert required - assigned == set()
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO).returncode == 0


def test_dockerfile_parses_and_runs_unprivileged() -> None:
    """Docker's own parser reads the Dockerfile: pinned base, non-root user, compose's ports."""
    commands = dockerfile.parse_file(str(REPO / "Dockerfile"))
    args = {
        c.value[0].split("=")[0]: c.value[0].split("=", 1)[1] for c in commands if c.cmd == "ARG"
    }
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", args["PYTHON_IMAGE"])
    assert [c.value[0] for c in commands if c.cmd == "FROM"] == ["${PYTHON_IMAGE}"] * 2
    (user,) = [c.value[0] for c in commands if c.cmd == "USER"]
    assert user not in ("root", "0")
    exposed = {v for c in commands if c.cmd == "EXPOSE" for v in c.value}
    container_ports = {
        p.rsplit(":", 1)[1] for s in services().values() if "build" in s for p in s["ports"]
    }
    assert container_ports <= exposed
    (entrypoint,) = [c.value for c in commands if c.cmd == "ENTRYPOINT"]
    (cmd,) = [c.value for c in commands if c.cmd == "CMD"]
    assert entrypoint == ("sessionbeat",)
    assert list(cmd) == services()["aggregator"]["command"]


def test_dockerfile_copies_only_what_the_build_context_holds() -> None:
    """Every COPY source exists and is let into the context by .dockerignore; secrets are not."""
    commands = dockerfile.parse_file(str(REPO / "Dockerfile"))
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert next(line for line in ignore if not line.startswith("#")) == "*"
    for command in commands:
        if command.cmd != "COPY" or any(f.startswith("--from") for f in command.flags):
            continue
        for source in command.value[:-1]:
            assert (REPO / source).exists(), source
            assert source in allowed, f"{source} is not let in by .dockerignore"
    assert not any(s in allowed for s in (str(DEFAULT_PASSWD), ".env", "secrets/"))


def test_mosquitto_accepts_the_production_config_and_answers_the_healthcheck() -> None:
    """The real broker starts with the production config and compose's healthcheck passes."""
    mosquitto_passwd = require_tool("mosquitto_passwd")
    root = short_tmpdir("sb-compose-")
    passwd = root / "passwd"
    subprocess.run([mosquitto_passwd, "-c", "-b", str(passwd), "aggregator", "pw"], check=True)
    broker = ProductionBroker(root, passwd, REPO / "mosquitto" / "acl")
    test = services()["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    command = test[1].replace("$$", "$").replace("-p 1883", f"-p {broker.port}")
    assert command != test[1]
    with broker:
        healthy = subprocess.run(["sh", "-c", command], capture_output=True, check=False)
        assert broker.process is not None and broker.process.poll() is None
    log = broker.output()  # complete once mosquitto has exited
    assert healthy.returncode == 0, log
    assert "Error" not in log
    assert re.search(r"mosquitto version 2\.\d+\.\d+ terminating", log), log
    # With the broker stopped the same check fails: it tells up from down.
    down = subprocess.run(["sh", "-c", command], capture_output=True, check=False)
    assert down.returncode != 0


def test_aggregator_healthcheck_passes_only_while_the_aggregator_is_ready(
    own_broker: LocalBroker,
) -> None:
    """Compose's aggregator healthcheck, run as written, passes only while it can do its job."""
    test = services()["aggregator"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    with running(own_broker, short_tmpdir("sb-hc-")) as (_service, api):
        command = test[3].replace("http://127.0.0.1:8787", api.url)
        assert command != test[3]
        ready = subprocess.run([sys.executable, "-c", command], capture_output=True, check=False)
        assert ready.returncode == 0, ready.stderr
        own_broker.stop()
        wait_until(lambda: httpx.get(f"{api.url}/readyz").status_code == 503, what="not ready")
        down = subprocess.run([sys.executable, "-c", command], capture_output=True, check=False)
        assert down.returncode != 0
        assert b"503" in down.stderr


def example_env() -> dict[str, str]:
    """The variables .env.example sets (commented ones with their example value too)."""
    example = (REPO / ".env.example").read_text()
    return dict(re.findall(r"^#?([A-Z_]+)=(.*)$", example, flags=re.MULTILINE))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Expand compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` from ``env``."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        assert op != ":?", f"{name} is required: {arg}"
        return arg if op == ":-" else ""

    return re.sub(r"\$\{([A-Z_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


def service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    """A service's environment as the container gets it, from ``env`` (like a filled .env)."""
    return {k: interpolate(str(v), env) for k, v in services()[name]["environment"].items()}


def run_server(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str]
) -> tuple[int, str]:
    """Run ``sessionbeat <argv>`` up to the point it would listen; return (exit code, stderr)."""
    import os

    from typer.testing import CliRunner

    from sessionbeat.aggregator import cli as aggregator_cli
    from sessionbeat.cli import app
    from sessionbeat.errors import ConfigError

    def reached(host: str, port: int) -> None:
        raise ConfigError(f"would listen on {host}:{port}")

    monkeypatch.setattr(aggregator_cli, "listen_socket", reached)
    monkeypatch.setattr(os, "execve", lambda *a: (_ for _ in ()).throw(ConfigError("would exec")))
    result = CliRunner().invoke(app, argv, env=env)
    return result.exit_code, " ".join(result.stderr.split())


@pytest.mark.parametrize("name", ["aggregator", "dashboard"])
def test_compose_servers_pass_the_bind_rule(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """In their containers both listen on 0.0.0.0: the API with its token, the page flagged."""
    service = services()[name]
    env = service_env(name, example_env())
    code, err = run_server(monkeypatch, service["command"], env)
    assert "refusing" not in err
    assert "would listen on 0.0.0.0:8787" in err or "would exec" in err, err
    assert (code, "SESSIONBEAT_API_TOKEN:?" in str(service["environment"])) == (2, True)
    if name == "dashboard":
        assert env["SESSIONBEAT_DASHBOARD_HOST"] == "0.0.0.0"
        assert "--insecure-no-token" in service["command"]


def test_the_image_alone_refuses_to_serve_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """`docker run sessionbeat` (the Dockerfile's CMD, 0.0.0.0) with no token set says why."""
    commands = dockerfile.parse_file(str(REPO / "Dockerfile"))
    (cmd,) = [list(c.value) for c in commands if c.cmd == "CMD"]
    code, err = run_server(monkeypatch, cmd, {})
    assert code == 2
    assert "refusing to serve the API on 0.0.0.0 without a token" in err
    code, err = run_server(monkeypatch, cmd, {"SESSIONBEAT_API_TOKEN": "x" * 32})
    assert "would listen on 0.0.0.0:8787" in err


def test_the_api_trusts_the_names_compose_reaches_it_by(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Host names the page, Prometheus, the healthcheck and tailnet users send are allowed."""
    from urllib.parse import urlsplit

    from sessionbeat.settings import load_settings

    env = example_env()
    for key, value in service_env("aggregator", env).items():
        monkeypatch.setenv(key, value)
    trusted = load_settings().trusted_hosts(services()["aggregator"]["command"][2])
    page = urlsplit(services()["dashboard"]["environment"]["SESSIONBEAT_API_URL"]).hostname
    scrape = yaml.safe_load((REPO / "prometheus/prometheus.yml").read_text())
    job = next(j for j in scrape["scrape_configs"] if j["job_name"] == "sessionbeat")
    prometheus = job["static_configs"][0]["targets"][0].rsplit(":", 1)[0]
    healthcheck = urlsplit(services()["aggregator"]["healthcheck"]["test"][3].split("'")[1])
    names = {page, prometheus, healthcheck.hostname, env["SESSIONBEAT_BIND_ADDRESS"], "kai-server"}
    assert names <= set(trusted)
    assert "evil.example" not in trusted and "*" not in trusted


def test_wheel_builds_from_the_docker_build_context(tmp_path: Path) -> None:
    """The build stage's COPYs carry all the wheel needs, its broker configs and fixtures too."""
    uv = require_tool("uv")
    commands = dockerfile.parse_file(str(REPO / "Dockerfile"))
    stages = [i for i, c in enumerate(commands) if c.cmd == "FROM"]
    context = tmp_path / "src"
    for command in commands[stages[0] : stages[1]]:
        if command.cmd != "COPY":
            continue
        *sources, dest = command.value
        for source in sources:
            target = context / dest
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, target, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source, target / Path(source).name)
    result = subprocess.run(
        [uv, "build", "--wheel", "-q", "-o", str(tmp_path / "dist"), str(context)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("sessionbeat-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "sessionbeat/broker/local.conf",
        "sessionbeat/stack/recordings/hook-SessionStart-1.json",
        "sessionbeat/exporter/collector.py",
    ):
        assert needed in names
