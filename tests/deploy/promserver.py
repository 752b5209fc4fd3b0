"""A real Prometheus (the Debian package's binary) for tests: temp config and TSDB, free port."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from sessionbeat.broker.embedded import free_port
from tests.procs import wait_until

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"


def config_for_test(
    aggregator_target: str, own_target: str, token_file: Path, interval: str = "1s"
) -> dict[str, Any]:
    """Return the repository's prometheus.yml pointed at a test aggregator, scraping fast.

    The jobs, paths and rule files stay those of ``prometheus/prometheus.yml``; only the
    targets, the intervals, the rule file path (made absolute) and the API token file (the
    container path compose.yaml mounts) change.
    """
    config: dict[str, Any] = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(PROM_DIR / pattern) for pattern in config["rule_files"]]
    for job in config["scrape_configs"]:
        target = aggregator_target if job["job_name"] == "sessionbeat" else own_target
        if "authorization" in job:
            job["authorization"]["credentials_file"] = str(token_file)
        for static in job["static_configs"]:
            static["targets"] = [target]
    return config


class PrometheusServer:
    """``prometheus`` on 127.0.0.1 with its config and TSDB in ``workdir``; stop() it.

    ``extra_jobs`` are scrape configs added to the repository's; they may name the token file
    as ``TOKEN_FILE`` in ``authorization.credentials_file``.
    """

    def __init__(
        self,
        workdir: Path,
        aggregator_target: str,
        token: str,
        extra_jobs: list[dict[str, Any]] | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "prometheus.yml"
        self.token_file = workdir / "api-token"
        self.token_file.write_text(token)
        config = config_for_test(aggregator_target, f"127.0.0.1:{self.port}", self.token_file)
        for job in extra_jobs or []:
            if job.get("authorization", {}).get("credentials_file") == "TOKEN_FILE":
                job["authorization"]["credentials_file"] = str(self.token_file)
            config["scrape_configs"].append(job)
        self.config_path.write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        self._out = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until(self._ready, 30, 0.1)
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log.read_text(errors='replace')}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str) -> dict[str, Any]:
        """Run an instant query; return the whole API response (``status``, ``data``...)."""
        response = httpx.post(f"{self.url}/api/v1/query", data={"query": expr}, timeout=10)
        body: dict[str, Any] = response.json()
        return body

    def result(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query that must parse; return its result list (empty: no data)."""
        body = self.query(expr)
        assert body["status"] == "success", f"{expr}: {body.get('error')}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def label_values(self, label: str, match: str) -> list[str]:
        """Values of ``label`` on series matching ``match`` (Grafana's ``label_values``)."""
        response = httpx.get(
            f"{self.url}/api/v1/label/{label}/values", params={"match[]": match}, timeout=10
        )
        values: list[str] = response.json()["data"]
        return values

    def stop(self) -> None:
        """Stop Prometheus (SIGTERM, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()
