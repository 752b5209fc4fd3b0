"""sessionbeat end to end around a real Claude Code: agent, aggregator, hooks, and a recorder.

:class:`LiveStack` starts a real ``sessionbeat agent run`` and a real ``sessionbeat
aggregator`` on the test broker, installs sessionbeat's hooks and status line into the test
home's Claude Code settings with the real ``sessionbeat hooks install --statusline`` (chaining a
status line of the test's own that saves Claude Code's status-line input, so a test can compare
with what Claude Code itself reports), and gives the environment to run ``claude`` with.

:class:`SessionRecorder` polls ``GET /sessions`` over HTTP every few milliseconds and keeps
every distinct (status, tool, subagents, context) a user would have seen, with the time it was
first seen. The latencies the tests check are measured on the aggregator's own timeline
(``GET /sessions/{id}``: the time each status change was applied) against the time the change
happened: the hook's time (``last_activity_at`` of that hook's beat, from a raw MQTT
subscriber), the registry's ``statusUpdatedAt``, or the test's own key press.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sessionbeat.broker.embedded import LocalBroker
from tests.aggregator.support import Watcher
from tests.procs import SCRIPT, Agent, Aggregator, wait_until
from tests.real_client import hook_logger
from tests.real_client.driver import claude_env, config_dir_of, seed_home

STATUSLINE_LOG = "statusline-inputs"
"""Folder (in the test home) where the chained status line saves Claude Code's inputs."""


def iso(value: str | None) -> datetime | None:
    """Parse an API time (ISO 8601, ``Z``) into an aware datetime; None stays None."""
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def epoch(moment: datetime) -> float:
    """Return a datetime as Unix seconds."""
    return moment.timestamp()


@dataclass(frozen=True)
class Seen:
    """One distinct picture of a session in ``GET /sessions``, first seen at ``at`` (Unix s)."""

    at: float
    status: str
    tool: str | None
    subagents: int
    context_tokens: int | None
    end_reason: str | None


class SessionRecorder:
    """Polls ``GET /sessions?host=...&all=true`` every ``interval`` s in a thread of its own."""

    def __init__(self, api_url: str, host: str, interval: float = 0.01) -> None:
        self.host = host
        self.seen: dict[str, list[Seen]] = {}
        self._client = httpx.Client(base_url=api_url, timeout=5)
        self._interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sb-recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                views = self._client.get("/sessions", params={"host": self.host, "all": "true"})
                now = time.time()
                for v in views.json():
                    picture = Seen(
                        now,
                        v["status"],
                        v["tool"],
                        v["subagents"],
                        v["context_tokens"],
                        v["end_reason"],
                    )
                    with self._lock:
                        history = self.seen.setdefault(v["session_id"], [])
                        last = history[-1] if history else None
                        if last is None or _key(last) != _key(picture):
                            history.append(picture)
            except httpx.HTTPError:
                pass
            self._stop.wait(self._interval)

    def history(self, session_id: str) -> list[Seen]:
        """Return the distinct pictures of one session so far, oldest first."""
        with self._lock:
            return list(self.seen.get(session_id, []))

    def statuses(self, session_id: str) -> list[str]:
        """Return the session's statuses as seen, consecutive repeats folded."""
        out: list[str] = []
        for s in self.history(session_id):
            if not out or out[-1] != s.status:
                out.append(s.status)
        return out

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(5)
        self._client.close()


def _key(s: Seen) -> tuple[Any, ...]:
    return (s.status, s.tool, s.subagents, s.context_tokens, s.end_reason)


class LiveStack:
    """A real agent and aggregator for one test host, with hooks installed for ``home``.

    ``home`` is the test's temporary HOME (Claude Code's config dir is ``$CLAUDE_CONFIG_DIR``
    inside it). Stop it with :meth:`close`.
    """

    def __init__(self, broker: LocalBroker, home: Path, root: Path) -> None:
        self.home = home
        self.host = f"real-{uuid.uuid4().hex[:8]}"
        self.config_dir = config_dir_of({"HOME": str(home), **_claude_config_env()})
        self.state_dir = root / "agent"
        self.aggregator = Aggregator(broker.url, root / "aggregator")
        self.agent = Agent(
            broker.url,
            self.state_dir,
            self.host,
            CLAUDE_CONFIG_DIR=str(self.config_dir),
            SESSIONBEAT_LOG_LEVEL="INFO",
        )
        self.beats = Watcher(broker, f"sessionbeat/v1/{self.host}/sessions/+")
        self.recorder = SessionRecorder(self.aggregator.url, self.host)
        self._install_hooks()

    def _install_hooks(self) -> None:
        """A status line of the test's own first, then `sessionbeat hooks install --statusline`."""
        log = self.home / STATUSLINE_LOG
        log.mkdir()
        settings = self.config_dir / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        logger = f"{sys.executable} {Path(hook_logger.__file__).resolve()} {log} statusline"
        settings.write_text(json.dumps({"statusLine": {"type": "command", "command": logger}}))
        env = dict(self.agent.env)
        result = subprocess.run(
            [SCRIPT, "hooks", "install", "--statusline"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def claude_env(self, api_url: str, **extra: str) -> dict[str, str]:
        """Return the environment to run ``claude`` with: offline, hooks reaching our agent."""
        return claude_env(
            self.home,
            api_url,
            {
                "CLAUDE_CONFIG_DIR": str(self.config_dir),
                "SESSIONBEAT_STATE_DIR": str(self.state_dir),
                "SESSIONBEAT_AGENT_AUTOSTART": "0",
                **extra,
            },
        )

    def seed(self, cwd: Path) -> None:
        """Seed Claude Code's global config so interactive mode starts offline in ``cwd``."""
        seed_home(self.home, cwd, config_dir=self.config_dir)

    # -- reading -----------------------------------------------------------------------------

    def sessions(self) -> dict[str, dict[str, Any]]:
        """``GET /sessions?all=true`` of this host, by session id."""
        return self.aggregator.sessions(host=self.host)

    def only_session(self, timeout: float = 30.0) -> str:
        """Wait until this host has exactly one session; return its id."""
        found = wait_until(lambda: list(self.sessions()), timeout, what="a session in the API")
        assert len(found) == 1, found
        return found[0]

    def detail(self, sid: str) -> dict[str, Any]:
        """``GET /sessions/{sid}``: the session with its timeline."""
        detail: dict[str, Any] = self.aggregator.get(f"/sessions/{sid}", host=self.host)
        return detail

    def wait_status(self, sid: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait until the API shows ``status`` for ``sid``; return the view (a hang guard).

        On a timeout the AssertionError tells what was seen instead (:meth:`explain`).
        """
        try:
            view: dict[str, Any] = wait_until(
                lambda: (v := self.sessions().get(sid)) and v["status"] == status and v,
                timeout,
                what=f"{sid} {status}",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.explain(sid)}") from None
        return view

    def explain(self, sid: str | None = None) -> str:
        """Return what the API and the wire showed (for ``sid``): for a failing test's message."""
        lines = []
        if sid is not None:
            lines.append(f"seen in GET /sessions: {self.recorder.history(sid)}")
            try:
                lines.append(f"timeline: {self.detail(sid)['timeline']}")
            except AssertionError as exc:
                lines.append(f"no detail: {exc}")
        for _topic, payload, _retain in list(self.beats.messages)[-20:]:
            beat = json.loads(payload) if payload else {}
            keys = ("seq", "status", "status_source", "event", "last_activity_at")
            more = ("registry_status", "registry_status_at", "tool")
            lines.append("beat " + " ".join(f"{k}={beat.get(k)}" for k in keys + more))
        log = self.agent.log.read_text(errors="replace").splitlines()[-15:]
        lines += ["agent log:", *log]
        return "\n".join(lines)

    def changed_to(self, sid: str, status: str, after: float) -> float:
        """Return when (Unix s, aggregator clock) the timeline first shows ``status``.

        Only changes at or after ``after`` count; waits for one (hang guard 30 s).
        """

        def find() -> float | None:
            for change in self.detail(sid)["timeline"]:
                at = iso(change["at"])
                assert at is not None
                if change["status"] == status and epoch(at) >= after:
                    return epoch(at)
            return None

        try:
            found: float = wait_until(find, 30, what=f"{sid} changing to {status}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.explain(sid)}") from None
        return found

    def _beats(self) -> list[dict[str, Any]]:
        return [json.loads(p) for _t, p, _r in list(self.beats.messages) if p]

    def _times(self, key: str, value: str, time_key: str, after: float) -> list[float]:
        """Times (Unix s) in ``time_key`` of the beats whose ``key`` is ``value``, >= after."""
        times = set()
        for beat in self._beats():
            at = iso(beat.get(time_key))
            if beat.get(key) == value and at is not None and epoch(at) >= after:
                times.add(epoch(at))
        return sorted(times)

    def hook_times(self, event: str, after: float) -> list[float]:
        """Return the times (Unix s) of the ``event`` hooks at or after ``after``, from beats."""
        return self._times("event", event, "last_activity_at", after)

    def registry_times(self, word: str, after: float) -> list[float]:
        """Return the ``statusUpdatedAt`` times (Unix s) of the registry word ``word``, >= after."""
        return self._times("registry_status", word, "registry_status_at", after)

    def latency(
        self,
        sid: str,
        status: str,
        after: float,
        hooks: tuple[str, ...] = (),
        registry: str | None = None,
    ) -> float:
        """Return seconds from a change happening to the API showing ``status`` for ``sid``.

        The change is the earliest of the ``hooks`` events and the registry word ``registry``
        seen since ``after`` (whichever Claude Code sent first: the registry may change before
        the hook runs, and an async hook may never run, e.g. at the end of a ``-p`` run). Waits
        for the status (hang guard 30 s), then 0.3 s for late beats.
        """
        shown = self.changed_to(sid, status, after)
        time.sleep(0.3)
        origins = [t for e in hooks for t in self.hook_times(e, after)]
        if registry is not None:
            origins += self.registry_times(registry, after)
        assert origins, f"no {hooks} hook and no registry {registry} since {after}\n" + (
            self.explain(sid)
        )
        return shown - min(origins)

    def statusline_inputs(self) -> list[dict[str, Any]]:
        """Claude Code's own status-line inputs so far (chained after sessionbeat's), in order."""
        files = sorted((self.home / STATUSLINE_LOG).glob("*.json"))
        return [json.loads(f.read_text()) for f in files]

    def close(self) -> None:
        """Stop recorder, subscriber, agent and aggregator."""
        self.recorder.close()
        self.beats.close()
        self.agent.stop()
        self.aggregator.stop()


def _claude_config_env() -> dict[str, str]:
    value = os.environ.get("CLAUDE_CONFIG_DIR")
    return {"CLAUDE_CONFIG_DIR": value} if value else {}


def now() -> float:
    """The current Unix time in seconds (the clock every time here is compared on)."""
    return datetime.now(UTC).timestamp()
