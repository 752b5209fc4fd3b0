"""prometheus/: the scrape config and alert rules pass promtool, and every alert is unit-tested."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promserver import config_for_test
from tests.tools import require_tool

REPO = Path(__file__).resolve().parents[2]
PROM = REPO / "prometheus"


@pytest.fixture(autouse=True)
def promtool_installed() -> None:
    """Every test here runs promtool: skip without it (fail on CI, tests/tools.py)."""
    require_tool("promtool")


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, check=False, cwd=REPO
    )


def rule_files() -> list[Path]:
    return sorted((PROM / "rules").glob("*.yml"))


def alerts() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule
    return found


def test_scrape_config_is_valid(tmp_path: Path) -> None:
    """The scrape config passes `promtool check config` and finds its rule files."""
    result = promtool("check", "config", "--syntax-only", PROM / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # The full check needs the files it names: the token file compose.yaml mounts is made here.
    token = tmp_path / "api-token"
    token.write_text("secret")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(config_for_test("127.0.0.1:8787", "127.0.0.1:9090", token)))
    result = promtool("check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_files())} rule files found" in result.stdout


def test_rules_are_valid() -> None:
    """Every rule file passes `promtool check rules` (PromQL parses, templates compile)."""
    result = promtool("check", "rules", *rule_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(alerts()) >= 4


def test_rule_unit_tests_pass() -> None:
    """`promtool test rules` passes: alerts fire when they should and only then."""
    tests = sorted((PROM / "tests").glob("*.yml"))
    assert tests
    result = promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """No alert rule goes untested: each one is expected to fire once and to stay quiet once."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in (PROM / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(alerts())
    assert names - fired == set()
    assert names - quiet == set()


def test_alerts_carry_severity_summary_and_description() -> None:
    """Every alert has a severity label and summary/description annotations for notifications."""
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert {"summary", "description"} <= set(rule["annotations"]), name


def test_scrape_job_targets_the_compose_aggregator() -> None:
    """The sessionbeat job scrapes the aggregator service and port that compose.yaml runs."""
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "sessionbeat")
    assert job["static_configs"][0]["targets"] == ["aggregator:8787"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/prometheus/api-token",
    }
