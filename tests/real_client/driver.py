"""Run the real Claude Code CLI offline: its environment, its home, ``-p`` runs and tmux sessions.

Measured with Claude Code 2.1.328 (see the findings below); everything here keeps Claude Code
inside a temporary home and stops every process it started.

Findings:

* Global config file. With ``CLAUDE_CONFIG_DIR`` set, Claude Code reads and writes its global
  config at ``$CLAUDE_CONFIG_DIR/.claude.json`` and ignores ``~/.claude.json``; without it,
  ``~/.claude.json``. Measured: with ``CLAUDE_CONFIG_DIR=$HOME/.claude`` and only
  ``~/.claude.json`` seeded, interactive mode showed the onboarding screen and failed ("Unable to
  connect to Anthropic services ... api.anthropic.com: ENOTFOUND"); with only
  ``$HOME/.claude/.claude.json`` seeded it started at the prompt; a ``-p`` run created
  ``$CLAUDE_CONFIG_DIR/.claude.json`` (plus ``backups/``) and no ``~/.claude.json``.
* Interactive mode needs that file seeded (``hasCompletedOnboarding``, the API key's last 20
  characters in ``customApiKeyResponses.approved``, the working directory's
  ``hasTrustDialogAccepted``), otherwise onboarding screens appear and try the network.
  ``claude -p`` needs nothing seeded.
* Outside the home. Claude Code puts a messaging socket at ``$XDG_RUNTIME_DIR/cc-socks/<pid>.sock``
  (else ``/tmp/cc-socks/``; left behind when ``claude`` is killed) and scratch files under
  ``$CLAUDE_CODE_TMPDIR`` (else ``/tmp/claude-<uid>/``); :func:`claude_env` points both into
  the temporary home.
* Session registry. ``$CLAUDE_CONFIG_DIR/sessions/<pid>.json`` is written for ``-p`` runs too
  and deleted at a normal exit, not after SIGKILL. Its ``tmux`` field is
  ``<session name>:<window id>.<pane id>`` (``claude:@0.%0`` for :class:`TmuxClaude`), present
  when ``claude`` runs inside tmux.
* Processes. Every process started here carries the environment variable :data:`MARK_VAR`
  with a value of its own; children inherit it (Bash tool commands, hooks), so
  :func:`kill_marked` finds them all, also after ``claude`` itself died.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil

API_KEY = "sk-test-123"
"""API key given to Claude Code by default; the scripted server accepts any."""

MARK_VAR = "SB_REAL_CLIENT_MARK"
"""Environment variable that tags every process a helper here starts (see :func:`kill_marked`)."""

_DROPPED_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "CLAUDECODE", "TMUX", "AWS_BEARER_TOKEN_BEDROCK")


def claude_env(home: Path, api_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for running Claude Code offline against ``api_url``.

    A copy of ``os.environ`` with ``HOME`` and the ``XDG_*`` dirs under ``home`` (creating
    ``XDG_RUNTIME_DIR``, where Claude Code puts its ``cc-socks/<pid>.sock`` messaging socket,
    else in ``/tmp/cc-socks``), ``CLAUDE_CODE_TMPDIR`` under ``home`` (else Claude Code writes
    ``/tmp/claude-<uid>/``), and
    ``ANTHROPIC_BASE_URL=api_url``, ``ANTHROPIC_API_KEY`` (:data:`API_KEY`),
    ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``, ``DISABLE_AUTOUPDATER`` and
    ``DISABLE_TELEMETRY`` set to 1. Inherited ``ANTHROPIC_*``, ``CLAUDE_*``, ``CLAUDECODE`` and
    ``TMUX*`` variables are dropped (they could point at the real account or config), except a
    ``CLAUDE_CONFIG_DIR`` that lies inside ``home`` (as the tests' ``isolated_env`` sets it);
    everything else, e.g. ``SESSIONBEAT_*``, is kept. ``extra`` (e.g. ``CLAUDE_CONFIG_DIR``,
    ``SESSIONBEAT_*``, ``CLAUDE_CODE_DISABLE_BACKGROUND_TASKS``) is applied last and wins.
    Creates ``home/.run`` (mode 0700); touches nothing else.
    """
    home = home.resolve()
    runtime = home / ".run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    inherited_config = os.environ.get("CLAUDE_CONFIG_DIR")
    if inherited_config and Path(inherited_config).resolve().is_relative_to(home):
        env["CLAUDE_CONFIG_DIR"] = inherited_config
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(runtime),
        CLAUDE_CODE_TMPDIR=str(home / ".tmp"),
        ANTHROPIC_BASE_URL=api_url,
        ANTHROPIC_API_KEY=API_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
    )
    env.update(extra or {})
    return env


def config_dir_of(env: Mapping[str, str]) -> Path:
    """Return Claude Code's config dir in ``env``: ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``."""
    configured = env.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else Path(env["HOME"]) / ".claude"


def _merge_json(path: Path, update: Mapping[str, Any]) -> None:
    data: dict[str, Any] = {}
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
    projects = {**data.get("projects", {}), **update.get("projects", {})}
    data.update(update)
    data["projects"] = projects
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def seed_home(
    home: Path, cwd: Path, api_key: str = API_KEY, config_dir: Path | None = None
) -> list[Path]:
    """Write Claude Code's global config so interactive mode starts offline and trusts ``cwd``.

    Marks onboarding as done for this version, approves ``api_key`` (Claude Code stores its last
    20 characters) and accepts the trust dialog for ``cwd``. Writes ``<config_dir>/.claude.json``
    (the file read when ``CLAUDE_CONFIG_DIR=<config_dir>``, see the module docstring) when
    ``config_dir`` is given, and ``<home>/.claude.json`` (read when ``CLAUDE_CONFIG_DIR`` is
    unset) always, so a mismatch between the two cannot bring back the onboarding screens.
    Existing keys of the files are kept. Returns the paths written.
    """
    from tests.real_client.install import claude_code_version

    cwd_key = str(cwd.resolve())
    update = {
        "hasCompletedOnboarding": True,
        "lastOnboardingVersion": claude_code_version(),
        "theme": "dark",
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
        "projects": {
            cwd_key: {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}
        },
    }
    paths = [home / ".claude.json"]
    if config_dir is not None:
        paths.append(config_dir / ".claude.json")
    for path in paths:
        _merge_json(path, update)
    return paths


def marked_processes(mark: str) -> list[psutil.Process]:
    """Return the running processes whose environment has ``MARK_VAR=mark``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK_VAR) == mark:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def kill_marked(mark: str, grace: float = 3.0) -> list[int]:
    """Stop every process tagged with ``mark``: SIGTERM, then SIGKILL after ``grace`` seconds.

    Returns the pids that were found. Never touches a process without the mark.
    """
    procs = marked_processes(mark)
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)
    return [p.pid for p in procs]


def run_print(
    claude: Path,
    prompt: str,
    cwd: Path,
    env: Mapping[str, str],
    args: Sequence[str] = (),
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``claude -p prompt *args`` in ``cwd`` with ``env``; return the finished process.

    stdout/stderr are captured as text. Raises ``subprocess.TimeoutExpired`` after ``timeout``
    seconds; every process the run started (Bash commands, hooks) is stopped before returning
    or raising.
    """
    mark = secrets.token_hex(8)
    cmd = [str(claude), "-p", prompt, *args]
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**env, MARK_VAR: mark},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_marked(mark, grace=1.0)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, out, err) from None
    finally:
        kill_marked(mark, grace=1.0)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


class TmuxClaude:
    """Claude Code running interactively in a detached tmux session of its own.

    Takes the ``claude`` executable, the working dir, the environment (e.g. from
    :func:`claude_env`), extra ``args`` (default ``--permission-mode default`` so permission
    prompts appear) and the terminal size in cells. The tmux server runs on a private socket
    (``tmux -L sb-<random>``), started with ``env`` so the pane inherits exactly that environment
    (plus ``TMUX``/``TMUX_PANE``/``TERM`` set by tmux); ``claude`` is exec'd directly in the pane
    (no shell), so :attr:`pid` is its pid. The pane stays on screen after ``claude`` exits
    (``remain-on-exit``). Use as a context manager, or call :meth:`start` and :meth:`close`.

    Raises ``RuntimeError`` when tmux is missing.
    """

    def __init__(
        self,
        claude: Path,
        cwd: Path,
        env: Mapping[str, str],
        args: Sequence[str] = ("--permission-mode", "default"),
        width: int = 120,
        height: int = 40,
    ) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            raise RuntimeError("tmux is not installed; install it (e.g. `apt-get install tmux`)")
        self._tmux = tmux
        self.claude, self.cwd, self.args = claude, cwd, tuple(args)
        self.width, self.height = width, height
        self.socket = "sb-" + secrets.token_hex(6)
        self.mark = secrets.token_hex(8)
        self.env = {**env, MARK_VAR: self.mark}
        self._pid: int | None = None
        self._dir: Path | None = None
        self._socket_path: Path | None = None

    def tmux(self, *args: str, check: bool = True) -> str:
        """Run a tmux command on this session's socket; return its stdout.

        Raises ``subprocess.CalledProcessError`` when ``check`` and tmux fails.
        """
        result = subprocess.run(
            [self._tmux, "-L", self.socket, *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, result.args, result.stdout, result.stderr
            )
        return result.stdout

    def start(self) -> Self:
        """Start the tmux server and ``claude`` in it; return self once the pane runs."""
        self._dir = Path(tempfile.mkdtemp(prefix="sb-tmux-"))
        conf = self._dir / "tmux.conf"
        conf.write_text("set -g remain-on-exit on\nset -g history-limit 10000\n", encoding="utf-8")
        self.tmux(
            "-f", str(conf), "new-session", "-d", "-s", "claude",
            "-x", str(self.width), "-y", str(self.height), "-c", str(self.cwd),
            str(self.claude), *self.args,
        )  # fmt: skip
        self._socket_path = self._find_socket()
        self._pid = int(self.tmux("display-message", "-p", "-t", "claude", "#{pane_pid}"))
        return self

    def _find_socket(self) -> Path | None:
        try:
            found = self.tmux("display-message", "-p", "#{socket_path}").strip()
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return None
        return Path(found) if found else None

    @property
    def pid(self) -> int:
        """Pid of the ``claude`` process; raises ``RuntimeError`` before :meth:`start`."""
        if self._pid is None:
            raise RuntimeError("TmuxClaude is not started")
        return self._pid

    @property
    def socket_path(self) -> Path | None:
        """Path of the tmux server's socket file once started; None after :meth:`close`."""
        return self._socket_path

    def alive(self) -> bool:
        """Tell whether the ``claude`` process still runs (not a zombie)."""
        try:
            return psutil.Process(self.pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def screen(self) -> str:
        """Return the visible screen as text (``capture-pane -p``), trailing blanks stripped."""
        return self.tmux("capture-pane", "-p", "-t", "claude").rstrip()

    def wait_for(self, what: str | re.Pattern[str], timeout: float = 30.0) -> str:
        """Poll the screen until it contains ``what`` (a substring, or a regex searched); return it.

        Raises ``AssertionError`` with the last screen after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            found = what.search(text) if isinstance(what, re.Pattern) else what in text
            if found:
                return text
            if time.monotonic() > deadline:
                shown = what.pattern if isinstance(what, re.Pattern) else what
                raise AssertionError(
                    f"screen did not show {shown!r} within {timeout} s; screen:\n{text}"
                )
            time.sleep(0.1)

    def wait_gone(self, what: str | re.Pattern[str], timeout: float = 30.0) -> str:
        """Poll until the screen no longer shows ``what``; return it (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            found = what.search(text) if isinstance(what, re.Pattern) else what in text
            if not found:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen still shows {what!r} after {timeout} s:\n{text}")
            time.sleep(0.1)

    def send(self, *keys: str) -> None:
        """Send tmux key names or strings (``send-keys``), e.g. ``send("Escape")``, ``"C-c"``."""
        self.tmux("send-keys", "-t", "claude", *keys)

    def answer(self, *keys: str, settle: float = 0.5) -> None:
        """Wait ``settle`` seconds, then :meth:`send` ``keys``: for a dialog that just appeared.

        Claude Code 2.1.328 ignores key presses in a permission dialog's first moments (measured:
        Enter 0.1 s after "Do you want to proceed?" showed was dropped, at 0.2 s it was taken).
        """
        time.sleep(settle)
        self.send(*keys)

    def type_line(self, text: str, settle: float = 0.3) -> None:
        """Type ``text`` literally, wait ``settle`` seconds, then press Enter."""
        self.tmux("send-keys", "-t", "claude", "-l", text)
        time.sleep(settle)
        self.send("Enter")

    def kill9(self) -> None:
        """SIGKILL the ``claude`` process only (a crash); :meth:`close` stops its children."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Kill the tmux server and every process started for this session; remove its files.

        Processes are found by their :data:`MARK_VAR` (SIGTERM, then SIGKILL after 3 s): the
        tmux server, ``claude``, Bash commands, hooks, also detached ones a hook started.
        Removes the tmux socket file (tmux 3.3 leaves it) and the temp dir. Idempotent.
        """
        if self._socket_path is None:
            self._socket_path = self._find_socket()
        self.tmux("kill-server", check=False)
        kill_marked(self.mark)
        if self._socket_path is not None:  # tmux 3.3 leaves its socket file behind
            self._socket_path.unlink(missing_ok=True)
            self._socket_path = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_for_file(paths: Iterable[Path] | Path, timeout: float = 30.0) -> Path:
    """Wait until one of ``paths`` exists; return it. AssertionError after ``timeout`` seconds."""
    candidates = [paths] if isinstance(paths, Path) else list(paths)
    deadline = time.monotonic() + timeout
    while True:
        for path in candidates:
            if path.exists():
                return path
        if time.monotonic() > deadline:
            raise AssertionError(f"none of {candidates} appeared within {timeout} s")
        time.sleep(0.05)
