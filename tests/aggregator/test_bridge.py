"""Sites on real Mosquitto bridges: a site broker bridged to the central one.

A real agent and real hooks on the site broker, the real aggregator on the central one. A site
whose link drops shows its hosts and sessions `unreachable`; back, they are current again with
every transition of the outage.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sessionbeat.broker.embedded import LocalBroker, free_port
from tests.conftest import real_hook, short_tmpdir
from tests.procs import Agent, Aggregator, wait_until

TEMPLATE = Path(__file__).resolve().parents[2] / "mosquitto" / "bridge.conf"
KEEPALIVE = 5
"""The bridge's keepalive_interval in the test (Mosquitto 2.0 uses no less than 5 s)."""
SID = "5e1f0c7a-0b1d-4c2e-9f3a-7d6b8c9e0a11"


def bridge_config(site: str, central: LocalBroker) -> str:
    """Return the shipped mosquitto/bridge.conf for ``site`` bridged to ``central``."""
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("central.example.com:8883", f"127.0.0.1:{central.port}")
    text = text.replace("keepalive_interval 30", f"keepalive_interval {KEEPALIVE}")
    text = text.replace("restart_timeout 2 30", "restart_timeout 1 2")
    return text.replace("office", site)


@dataclass
class Sites:
    """The central broker, a site broker bridged to it, the aggregator and a site agent."""

    central: LocalBroker
    site: LocalBroker
    aggregator: Aggregator
    agent: Agent

    def host(self) -> dict[str, Any] | None:
        """The agent's host as GET /hosts shows it (None before it is known)."""
        return next(
            (h for h in self.aggregator.get("/hosts") if h["host"] == self.agent.host), None
        )

    def session(self) -> dict[str, Any] | None:
        """The test session as GET /sessions?all=true shows it."""
        return self.aggregator.sessions(host=self.agent.host).get(SID)

    def cut(self) -> None:
        """Freeze the site broker (SIGSTOP): to the central broker, a silent network cut."""
        assert self.site.process is not None
        self.site.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """End the outage: let a frozen site broker run again, or start a stopped one."""
        if self.site.process is None:
            self.site.start()
        else:
            self.site.process.send_signal(signal.SIGCONT)

    def hook(self, name: str) -> None:
        """Send a real hook payload through `sessionbeat publish`, like Claude Code."""
        result = self.agent.publish(real_hook(name, SID, self.agent.state_dir))
        assert result.returncode == 0, result.stderr


@pytest.fixture
def sites() -> Iterator[Sites]:
    """Two real Mosquittos (site bridged to central), the aggregator and a site agent."""
    with running_sites() as running:
        yield running


@contextmanager
def running_sites(**env: str) -> Iterator[Sites]:
    """Start the two brokers, the aggregator and the agent (``env``: settings for both)."""
    root = short_tmpdir("sb-sites-")
    central = LocalBroker(root / "central")
    central.start()
    site = LocalBroker(root / "site", port=free_port(), extra_config=bridge_config("lab", central))
    aggregator = agent = None
    try:
        site.start()
        aggregator = Aggregator(central.url, root / "aggregator", **env)
        agent = Agent(
            site.url,
            root / "agent",
            "lab-dev-1",
            SESSIONBEAT_SITE="lab",
            SESSIONBEAT_REPLAY_GRACE="0.5",
            **env,
        )
        yield Sites(central, site, aggregator, agent)
    finally:
        for proc in (agent, aggregator):
            if proc is not None:
                proc.stop()
        if site.process is not None:
            site.process.send_signal(signal.SIGCONT)
        site.stop()
        central.stop()


def outage_hooks_then_back(sites: Sites, gone: str) -> None:
    """Send hooks during the outage, end it, and check the session's whole timeline."""
    # Claude Code goes on while the link is down.
    sites.hook("hook-PermissionRequest-1")
    sites.hook("hook-PostToolUse-1")
    sites.hook("hook-Stop-1")
    sites.resume()
    wait_until(lambda: (h := sites.host()) and h["state"] == "online", 30, what="host online")
    done = wait_until(
        lambda: (s := sites.session()) and s["status"] == "waiting_for_input" and s,
        30,
        what="the outage's hooks applied",
    )
    assert done["event"] == "Stop"
    detail = sites.aggregator.get(f"/sessions/{SID}", host=sites.agent.host)
    statuses = [change["status"] for change in detail["timeline"]]
    # In order after the outage (the status before it may show again in between, when the
    # link is back and before the queued beats arrive).
    remaining = iter(statuses[statuses.index(gone) :])
    expected = [gone, "needs_approval", "working", "waiting_for_input"]
    assert all(status in remaining for status in expected), statuses


def start_working(sites: Sites) -> None:
    """Start the session and wait until the aggregator shows it working, host online."""
    sites.hook("hook-SessionStart-1")
    sites.hook("hook-UserPromptSubmit-1")
    wait_until(lambda: (s := sites.session()) and s["status"] == "working", 20, what="working")
    host = wait_until(sites.host, 10)
    assert (host["state"], host["site"]) == ("online", "lab")


def test_network_cut_shows_unreachable_and_back_replays_every_transition(
    sites: Sites,
) -> None:
    """A cut site link shows its host and session `unreachable`; back, every hook arrives.

    The cut is the site broker frozen (SIGSTOP): the central broker hears nothing from the
    bridge and publishes its `0` Last Will after 1.5 keepalives; the agent stays connected to
    the frozen site broker, whose queue delivers its beats in order once it runs again.
    """
    start_working(sites)
    sites.cut()
    # Mosquitto notices the silence after 1.5 keepalives plus its own check period: 8.2-9.3 s
    # measured alone; a hang guard with room for a loaded machine, not a timing assertion.
    deadline = 3 * KEEPALIVE + 5
    wait_until(
        lambda: (h := sites.host()) and h["state"] == "unreachable",
        deadline,
        what="host unreachable",
    )
    wait_until(
        lambda: (s := sites.session()) and s["status"] == "unreachable",
        deadline,
        what="session unreachable",
    )
    assert sites.aggregator.get("/summary")["hosts_unreachable"] == 1
    outage_hooks_then_back(sites, "unreachable")


def test_site_broker_stop_shows_unreachable_host_and_spooled_hooks_arrive(
    sites: Sites,
) -> None:
    """A stopped site broker shows its host `unreachable` at once; restarted, all hooks arrive.

    Measured: on a clean stop Mosquitto first sends its clients' Last Wills through the bridge,
    so the session shows `offline` (its agent lost its broker; offline > unreachable), and the
    agent spools the hooks until the site broker is back.
    """
    start_working(sites)
    sites.site.stop()
    wait_until(
        lambda: (h := sites.host()) and h["state"] == "unreachable",
        KEEPALIVE + 5,
        what="host unreachable",
    )
    assert sites.session()["status"] in ("offline", "unreachable")
    outage_hooks_then_back(sites, sites.session()["status"])


def test_a_reaped_session_does_not_come_back_when_the_link_returns() -> None:
    """An ended session reaped by the aggregator stays gone after the site's link bounces.

    The site broker keeps its own retained copy and re-sends it on every reconnect (measured);
    the aggregator's clear reaches it through the bridge's `in` topic, so the history holds the
    session once, not once per reconnect.
    """
    with running_sites(SESSIONBEAT_ENDED_LINGER="1") as sites:
        start_working(sites)
        sites.hook("hook-SessionEnd-1")
        wait_until(
            lambda: [
                e for e in sites.aggregator.get("/history")["items"] if e["session_id"] == SID
            ],
            30,
            what="the ended session reaped",
        )
        sites.site.stop()
        wait_until(lambda: (h := sites.host()) and h["state"] == "unreachable", KEEPALIVE + 5)
        sites.resume()
        wait_until(lambda: (h := sites.host()) and h["state"] == "online", 30, what="online")
        # The bridge re-sends its retained copies with its 1, before the agent's birth: by now
        # a copy that came back is live again; it would be reaped (ended_linger 1 s) once more.
        wait_until(lambda: sites.session() is None, 15, what="no live copy")
        rows = [e for e in sites.aggregator.get("/history")["items"] if e["session_id"] == SID]
        assert len(rows) == 1, rows
