"""Settings: a renamed setting still works under its old name, with one deprecation warning.

``keepalive_interval`` (sessionbeat 0.1.0) is now ``heartbeat_interval``, so that "keepalive"
means only the MQTT keepalive. Old configurations keep working: the environment variable
``SESSIONBEAT_KEEPALIVE_INTERVAL`` and the TOML key ``keepalive_interval``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sessionbeat.settings import load_settings


@pytest.fixture
def config(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The TOML file the settings read (absent until a test writes it), no interval in env."""
    for name in ("HEARTBEAT_INTERVAL", "KEEPALIVE_INTERVAL"):
        monkeypatch.delenv(f"SESSIONBEAT_{name}", raising=False)
        monkeypatch.delenv(name, raising=False)
    return isolated_env / "config.toml"


def deprecations(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the deprecation warnings logged so far."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "deprecated" in r.getMessage()
    ]


def test_heartbeat_interval_by_its_name(
    config: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The default is 30 s; the environment and the TOML file set it, with no warning."""
    assert load_settings().heartbeat_interval == 30.0
    config.write_text("heartbeat_interval = 12\n")
    assert load_settings().heartbeat_interval == 12.0
    monkeypatch.setenv("SESSIONBEAT_HEARTBEAT_INTERVAL", "7")
    assert load_settings().heartbeat_interval == 7.0
    assert deprecations(caplog) == []


def test_old_environment_variable_still_sets_it(
    config: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SESSIONBEAT_KEEPALIVE_INTERVAL still works and logs one warning naming the new one."""
    monkeypatch.setenv("SESSIONBEAT_KEEPALIVE_INTERVAL", "5")
    assert load_settings().heartbeat_interval == 5.0
    assert deprecations(caplog) == [
        "SESSIONBEAT_KEEPALIVE_INTERVAL (environment) is deprecated, "
        "use SESSIONBEAT_HEARTBEAT_INTERVAL"
    ]


def test_old_toml_key_still_sets_it(config: Path, caplog: pytest.LogCaptureFixture) -> None:
    """keepalive_interval in the config file still works and logs one warning naming the file."""
    config.write_text("keepalive_interval = 9\n")
    assert load_settings().heartbeat_interval == 9.0
    assert deprecations(caplog) == [
        f"keepalive_interval ({config}) is deprecated, use heartbeat_interval"
    ]


def test_new_name_wins_and_sources_keep_their_order(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where both names are set the new one wins; the environment still beats the file."""
    config.write_text("heartbeat_interval = 8\nkeepalive_interval = 9\n")
    assert load_settings().heartbeat_interval == 8.0
    monkeypatch.setenv("SESSIONBEAT_KEEPALIVE_INTERVAL", "5")
    assert load_settings().heartbeat_interval == 5.0
    monkeypatch.setenv("SESSIONBEAT_HEARTBEAT_INTERVAL", "6")
    assert load_settings().heartbeat_interval == 6.0
    assert load_settings(heartbeat_interval=4).heartbeat_interval == 4.0


def test_variables_without_the_prefix_are_not_read(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KEEPALIVE_INTERVAL or HEARTBEAT_INTERVAL of another program do not change sessionbeat."""
    monkeypatch.setenv("KEEPALIVE_INTERVAL", "5")
    monkeypatch.setenv("HEARTBEAT_INTERVAL", "6")
    assert load_settings().heartbeat_interval == 30.0
