"""`sessionbeat dashboard`: what it hands to Streamlit (dashboard/cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionbeat.dashboard.cli import APP, streamlit_argv, streamlit_env
from sessionbeat.settings import load_settings


def test_settings_from_the_config_file_reach_the_page(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """API URL, token and host id from the TOML file go to the page process's environment."""
    config = isolated_env / "config.toml"
    config.write_text(
        'api_url = "http://kai-server:8787"\napi_token = "s3cret"\nhost = "macbook"\n'
    )
    env = streamlit_env(load_settings(), {"PATH": "/usr/bin"})
    assert env == {
        "PATH": "/usr/bin",
        "SESSIONBEAT_API_URL": "http://kai-server:8787",
        "SESSIONBEAT_API_TOKEN": "s3cret",
        "SESSIONBEAT_HOST": "macbook",
    }
    config.write_text('api_url = "http://127.0.0.1:9"\n')
    assert "SESSIONBEAT_API_TOKEN" not in streamlit_env(load_settings(), {})


def test_streamlit_runs_headless_on_the_given_address_without_usage_stats() -> None:
    """The command serves the page file on the chosen address and port, headless, no stats."""
    argv = streamlit_argv("0.0.0.0", 8600)
    assert argv[1:5] == ["-m", "streamlit", "run", str(APP)]
    options = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert options["--server.address"] == "0.0.0.0"
    assert options["--server.port"] == "8600"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
