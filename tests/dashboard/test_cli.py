"""`sessionbeat dashboard`: what it hands to Streamlit (dashboard/cli.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionbeat.cli import app
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


@pytest.mark.parametrize("flag", ["--bind", "--host"])
def test_bind_address_comes_from_bind_or_the_deprecated_host(
    monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    """--bind sets the page's address; the old --host still does, with a deprecation note."""
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append(list(argv)))
    result = CliRunner().invoke(
        app, ["dashboard", flag, "0.0.0.0", "--port", "8600", "--insecure-no-token"]
    )
    assert result.exit_code == 0, result.output
    (argv,) = started
    options = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert (options["--server.address"], options["--server.port"]) == ("0.0.0.0", "8600")
    deprecated = "sessionbeat dashboard: --host is deprecated here; use --bind 0.0.0.0"
    assert (deprecated in result.stderr) == (flag == "--host")


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_the_page_on_a_non_loopback_address_takes_the_flag(
    monkeypatch: pytest.MonkeyPatch, token: str | None
) -> None:
    """The page has no login, so even with an API token it refuses 0.0.0.0 without the flag."""
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append(list(argv)))
    if token:
        monkeypatch.setenv("SESSIONBEAT_API_TOKEN", token)
    result = CliRunner().invoke(app, ["dashboard", "--bind", "0.0.0.0", "--port", "8600"])
    assert result.exit_code == 2
    assert started == []
    message = " ".join(result.stderr.split())
    assert "refusing to serve the page on 0.0.0.0" in message
    assert "--insecure-no-token" in message and "proxy" in message


def test_the_page_on_loopback_needs_no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default 127.0.0.1 (what `sessionbeat up` uses) starts the page as before."""
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: started.append(list(argv)))
    result = CliRunner().invoke(app, ["dashboard", "--port", "8600"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1
