"""``sessionbeat demo``: real recorded Claude Code sessions replayed through real agents.

One agent per demo host (macbook, kai-server, winbox), each with a state dir and an empty
Claude config dir of its own under ``<state_dir>/demo``; every recorded hook input goes through
the real ``sessionbeat publish``, every recorded status-line input through the real
``sessionbeat statusline`` (recordings: :mod:`sessionbeat.stack.replay`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from sessionbeat.errors import ApiUnavailableError
from sessionbeat.settings import ENV_PREFIX, Settings
from sessionbeat.stack.plan import sessionbeat_env
from sessionbeat.stack.replay import (
    SESSIONS,
    STATUSLINES,
    interleaved,
    load_payload,
    renamed,
    session_ids,
)
from sessionbeat.stack.supervisor import Children, sessionbeat_argv


def demo_hosts() -> list[str]:
    """Return the demo's host ids, sorted (those of the recorded sessions)."""
    return sorted({s.host for s in SESSIONS})


def start_agents(settings: Settings, root: Path, children: Children) -> None:
    """Start one agent per demo host on the settings' broker; wait for their sockets (20 s).

    Each agent's state dir is ``root/<host>``, its Claude config dir ``root/<host>/claude``
    (empty: the demo hosts must not pick up this machine's real sessions from Claude Code's
    registry). Raises ``ApiUnavailableError`` when an agent does not start.
    """
    hosts = demo_hosts()
    for host in hosts:
        env = sessionbeat_env(os.environ, settings, str(settings.broker_url))
        env[f"{ENV_PREFIX}STATE_DIR"] = str(root / host)
        env[f"{ENV_PREFIX}HOST"] = host
        env[f"{ENV_PREFIX}CLAUDE_CONFIG_DIR"] = str(root / host / "claude")
        children.start(f"agent-{host}", sessionbeat_argv("agent", "run"), env)
    for host in hosts:
        wait_for_socket(root / host / "agent.sock", 20)


def replay_round(root: Path, ids: dict[str, str] | None, delay: float) -> None:
    """Replay every recording once: the status lines, then the interleaved hook inputs.

    ``ids`` maps recorded session ids to fresh ones (``{}``: new ones; None: the recorded
    ids); ``delay`` is the pause after each hook input, seconds.
    """
    for host, name in STATUSLINES:  # sessions known from their status line (context)
        env = dict(os.environ, **{f"{ENV_PREFIX}STATE_DIR": str(root / host)})
        subprocess.run(
            sessionbeat_argv("statusline"),
            input=renamed(load_payload(name), ids),
            env=env,
            stdout=subprocess.DEVNULL,
            check=False,
        )
    for session, payload in interleaved():
        env = dict(os.environ, **{f"{ENV_PREFIX}STATE_DIR": str(root / session.host)})
        subprocess.run(
            sessionbeat_argv("publish"), input=renamed(payload, ids), env=env, check=False
        )
        time.sleep(delay)


def run_demo(
    settings: Settings,
    say: Callable[[str], None],
    command: str,
    delay: float = 1.0,
    loop: bool = False,
    linger: float = 120.0,
) -> None:
    """Run the demo until it is done (or Ctrl-C / SIGTERM); its agents never outlive it.

    ``say`` prints a line for the user; ``command`` is how to run ``sessionbeat`` from this
    shell; ``delay`` is seconds between hook inputs; ``loop`` replays again and again, each
    later round with fresh session ids (an ended session stays ended instead of its timeline
    starting again); ``linger`` is how long the hosts stay online afterwards, seconds.
    """
    root = settings.state_dir / "demo"
    children = Children(root / "logs")

    def _on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # run the cleanup below: the demo agents must not outlive us

    previous = signal.signal(signal.SIGTERM, _on_term)
    try:
        start_agents(settings, root, children)
        say(
            f"demo: {len(session_ids())} recorded sessions on {', '.join(demo_hosts())}"
            f"{' (fresh session ids each round)' if loop else ''}; "
            f"watch `{command} sessions list` or the dashboard"
        )
        rounds = 0
        while True:
            replay_round(root, None if rounds == 0 else {}, delay)
            rounds += 1
            if not loop:
                break
        say(f"demo: replay done; hosts stay online for {linger:.0f} s (Ctrl-C to stop)")
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(linger)
    except KeyboardInterrupt:
        pass
    finally:
        children.stop()
        signal.signal(signal.SIGTERM, previous)


def wait_for_socket(path: Path, timeout: float) -> None:
    """Wait until ``path`` exists (an agent's socket); ``ApiUnavailableError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise ApiUnavailableError(f"demo agent did not start ({path} missing)")
        time.sleep(0.05)
