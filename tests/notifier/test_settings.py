"""The notification settings: several URLs in one variable or a TOML list, checked times."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionbeat.errors import ConfigError
from sessionbeat.settings import load_settings


def test_urls_split_on_spaces_and_on_commas_before_a_scheme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A comma inside a URL's query (ntfy tags) stays; spaces and ", scheme://" separate."""
    monkeypatch.setenv(
        "SESSIONBEAT_NOTIFY_URLS", "ntfys://ntfy.sh/t?tags=a,b, json://h/p  pover://u@t"
    )
    urls = [u.get_secret_value() for u in load_settings().notify_urls]
    assert urls == ["ntfys://ntfy.sh/t?tags=a,b", "json://h/p", "pover://u@t"]
    assert "pover://u@t" not in repr(load_settings())  # secrets stay out of reprs and logs


def test_urls_from_the_toml_file(isolated_env: Path) -> None:
    """The TOML file may list the URLs; the public URL and quiet hours come along."""
    (isolated_env / "config.toml").write_text(
        'notify_urls = ["ntfys://ntfy.sh/a", "json://h/p"]\n'
        'public_url = "http://kai:8501"\nnotify_quiet_hours = "22:00-07:00"\n'
    )
    settings = load_settings()
    assert len(settings.notify_urls) == 2
    assert (settings.public_url, settings.notify_quiet_hours) == ("http://kai:8501", "22:00-07:00")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SESSIONBEAT_NOTIFY_QUIET_HOURS", "22-07", "HH:MM-HH:MM"),
        ("SESSIONBEAT_NOTIFY_QUIET_HOURS", "22:00-22:00", "same time"),
        ("SESSIONBEAT_NOTIFY_QUIET_HOURS", "25:00-07:00", "hour must be in"),
        ("SESSIONBEAT_NOTIFY_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_quiet_hours_and_zones_are_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    """A mistyped quiet-hours span or zone stops the command with what is wrong."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=says):
        load_settings()
