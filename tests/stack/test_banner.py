"""What `sessionbeat up` prints once every part answers (stack/banner.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionbeat.settings import load_settings
from sessionbeat.stack.banner import banner
from sessionbeat.stack.plan import plan_stack


def lines(text: str) -> dict[str, str]:
    """Return the banner's lines by their first word (broker, API, dashboard, ...)."""
    out = {}
    for line in text.splitlines()[1:-1]:
        key, value = line.strip().split(maxsplit=1)
        out[key] = " ".join(value.split())
    return out


@pytest.mark.parametrize(
    ("named", "flag", "broker", "tail", "demo"),
    [
        pytest.param(
            None,
            None,
            "mqtt://127.0.0.1:1883 (embedded, data in {state}/broker)",
            "-h 127.0.0.1 -p 1883",
            "sb demo",
            id="embedded",
        ),
        pytest.param(
            "mqtt://kai:s3cret@kai-server:1884",
            None,
            "mqtt://kai@kai-server:1884",
            "-h kai-server -p 1884",
            "sb demo",
            id="named-by-env-password-hidden",
        ),
        pytest.param(
            None,
            "mqtt://kai-server:1884",
            "mqtt://kai-server:1884",
            "-h kai-server -p 1884",
            "sb --broker-url mqtt://kai-server:1884 demo",
            id="named-by-flag-demo-gets-it-too",
        ),
    ],
)
def test_banner_names_the_broker_in_use(
    named: str | None,
    flag: str | None,
    broker: str,
    tail: str,
    demo: str,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The broker line, the live-tail command and the demo command all point at one broker."""
    if named:
        monkeypatch.setenv("SESSIONBEAT_BROKER_URL", named)
    shown = lines(banner(plan_stack(load_settings(), broker_url=flag), "sb"))
    assert shown["broker"] == broker.format(state=isolated_env / "state")
    assert shown["live"] == f"tail mosquitto_sub {tail} -v -t 'sessionbeat/#'"
    assert shown["try"] == f"{demo} (replays recorded sessions from three hosts)"
    assert "s3cret" not in str(shown)


@pytest.mark.parametrize(
    ("dashboard", "expected"),
    [
        (True, ["broker", "API", "dashboard", "live", "try", "logs"]),
        (False, ["broker", "API", "live", "try", "logs"]),
    ],
)
def test_banner_lists_each_part_and_where_the_logs_are(
    dashboard: bool, expected: list[str], isolated_env: Path
) -> None:
    """API and page URLs on the ports asked; no page line with --no-dashboard."""
    plan = plan_stack(load_settings(), port=9001, dashboard_port=9002, dashboard=dashboard)
    text = banner(plan, "sb")
    shown = lines(text)
    assert list(shown) == expected
    assert text.startswith("sessionbeat is up.\n") and text.endswith("Ctrl-C stops everything.")
    assert shown["API"].startswith("http://127.0.0.1:9001/sessions ")
    assert shown.get("dashboard") == ("http://127.0.0.1:9002" if dashboard else None)
    assert shown["logs"] == str(isolated_env / "state" / "logs")
