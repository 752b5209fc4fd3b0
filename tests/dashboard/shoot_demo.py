"""Take the README's phone screenshots from `sessionbeat up` + `sessionbeat demo` (real data).

Run: ``.venv/bin/python -m tests.dashboard.shoot_demo [--out docs/screenshots]``

Starts ``sessionbeat up`` (embedded Mosquitto, aggregator, page, no agent) on free ports with
a temporary HOME and state dir, replays the real recorded sessions of
``tests/fixtures/claude-code`` with ``sessionbeat demo --loop`` (three hosts), and while a
session waits for approval saves ``phone-light.png`` and ``phone-dark.png`` at 390x844 (2x) from the
Debian Chromium. Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from sessionbeat.broker.embedded import free_port
from tests.dashboard.browser import ARGS, CHROMIUM, PHONE
from tests.procs import SCRIPT, Proc, wait_until

DOCS = Path(__file__).parents[2] / "docs" / "screenshots"


def answers(url: str) -> bool:
    """True once ``url`` answers HTTP 200."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> None:
    """Start the stack, replay the demo, shoot light and dark, stop everything."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DOCS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-shoot-") as tmp:
        root = Path(tmp)
        env = dict(
            os.environ,
            HOME=str(root / "home"),
            XDG_CONFIG_HOME=str(root / "home" / ".config"),
            XDG_CACHE_HOME=str(root / "home" / ".cache"),
            SESSIONBEAT_STATE_DIR=str(root / "state"),
            SESSIONBEAT_CONFIG=str(root / "config.toml"),
        )
        for name in ("SESSIONBEAT_BROKER_URL", "SESSIONBEAT_API_URL", "SESSIONBEAT_API_TOKEN"):
            env.pop(name, None)
        mqtt, port, page_port = free_port(), free_port(), free_port()
        argv = [SCRIPT, "up", "--no-agent", "--broker-port", str(mqtt), "--port", str(port)]
        up = Proc([*argv, "--dashboard-port", str(page_port)], env, root / "up.log")
        demo = None
        try:
            wait_until(lambda: "Ctrl-C stops everything" in up.output() or up.popen.poll(), 60)
            wait_until(lambda: answers(f"http://127.0.0.1:{page_port}/_stcore/health"), 60)
            demo_env = dict(env, SESSIONBEAT_BROKER_URL=f"mqtt://127.0.0.1:{mqtt}")
            demo = Proc([SCRIPT, "demo", "--loop"], demo_env, root / "demo.log")
            args.out.mkdir(parents=True, exist_ok=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for scheme in ("light", "dark"):
                    context = browser.new_context(
                        viewport=PHONE, device_scale_factor=2, color_scheme=scheme
                    )
                    page = context.new_page()
                    page.goto(f"http://127.0.0.1:{page_port}/", timeout=60_000)
                    # an approval comes and goes as the replay runs: shoot while one is shown
                    waiting = page.locator(".sb-card", has_text="wants")
                    waiting.first.wait_for(timeout=600_000)
                    page.screenshot(path=str(args.out / f"phone-{scheme}.png"))
                    context.close()
                browser.close()
        finally:
            if demo is not None:
                demo.stop()
            up.signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                up.popen.wait(30)
            up.stop()
    print(f"saved {args.out}/phone-light.png and phone-dark.png")


if __name__ == "__main__":
    main()
