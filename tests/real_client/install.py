"""Install the pinned Claude Code CLI (npm ``@anthropic-ai/claude-code``) outside the repo.

The version is pinned in one place only: ``tests/real_client/package.json`` (with its npm
``package-lock.json``). :func:`ensure_claude` copies both into
``<cache root>/claude-code-<version>/`` and runs ``npm ci`` there once; later calls only check the
installed binary. The npm package's ``bin/claude.exe`` is replaced by the native binary of the
platform package in its ``postinstall`` (``install.cjs``); npm 11 may skip that script (its
``allowScripts`` warning), so when ``claude --version`` does not answer with the pinned version,
``node install.cjs`` is run once by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock

HERE = Path(__file__).parent
PACKAGE_JSON = HERE / "package.json"
PACKAGE_LOCK = HERE / "package-lock.json"
PACKAGE = "@anthropic-ai/claude-code"


def claude_code_version() -> str:
    """Return the Claude Code version pinned in ``tests/real_client/package.json`` (``2.1.328``).

    Raises ``RuntimeError`` when the pin is missing or not an exact version.
    """
    deps = json.loads(PACKAGE_JSON.read_text(encoding="utf-8")).get("dependencies", {})
    version = deps.get(PACKAGE)
    if not isinstance(version, str) or not version[:1].isdigit():
        raise RuntimeError(
            f"{PACKAGE_JSON} must pin {PACKAGE} to an exact version, got {version!r}"
        )
    return version


def default_cache_root() -> Path:
    """Return the install cache: ``$SESSIONBEAT_TEST_CACHE``, else ``<tmp>/sessionbeat-test-cache``.

    ``<tmp>`` is :func:`tempfile.gettempdir`, outside the repo and the home directory.
    """
    configured = os.environ.get("SESSIONBEAT_TEST_CACHE")
    return (
        Path(configured) if configured else Path(tempfile.gettempdir()) / "sessionbeat-test-cache"
    )


def _version_of(claude: Path) -> str | None:
    """Return the first line of ``claude --version``, or None when it does not run.

    Runs with ``HOME`` set to the install dir, so the real home is never read or written.
    """
    home = claude.parents[2]
    try:
        result = subprocess.run(
            [str(claude), "--version"],
            env={**os.environ, "HOME": str(home), "CLAUDE_CONFIG_DIR": str(home / ".claude")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError:
        return None
    lines = result.stdout.strip().splitlines()
    return lines[0] if result.returncode == 0 and lines else None


def _is_pinned(claude: Path, version: str) -> bool:
    found = _version_of(claude) if claude.exists() else None
    return found is not None and found.startswith(version + " ")


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    try:
        result = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{what} failed ({' '.join(cmd)} in {cwd}): {exc}") from exc
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({' '.join(cmd)} in {cwd}, exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )


def ensure_claude(cache_root: Path | None = None) -> Path:
    """Return the path of the pinned ``claude`` executable, installing it first if needed.

    ``cache_root`` defaults to :func:`default_cache_root`. Installs into
    ``<cache root>/claude-code-<version>/`` with ``npm ci --no-audit --no-fund`` from the pinned
    package.json and package-lock.json (npm's download cache in ``<cache root>/npm-cache``, not
    in the home directory), under a file lock so that concurrent test processes do
    not install at once. Idempotent: when the binary there already reports the pinned version it
    returns at once (one ``claude --version`` run, a few ms).

    Raises ``RuntimeError`` saying what is missing and what to run when node/npm are not on
    PATH, the install fails, or the installed binary does not report the pinned version.
    """
    version = claude_code_version()
    root = cache_root if cache_root is not None else default_cache_root()
    target = root / f"claude-code-{version}"
    claude = target / "node_modules" / ".bin" / "claude"
    if _is_pinned(claude, version) and _same_pins(target):
        return claude
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"{' and '.join(missing)} not found on PATH; the real-client tests need Node.js and "
            f"npm to install Claude Code {version} (e.g. `apt-get install nodejs npm`, "
            "or https://nodejs.org)"
        )
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f"claude-code-{version}.lock"), timeout=900):
        if _is_pinned(claude, version) and _same_pins(target):
            return claude
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_JSON, target / "package.json")
        shutil.copyfile(PACKAGE_LOCK, target / "package-lock.json")
        _run(
            ["npm", "ci", "--no-audit", "--no-fund", "--cache", str(root / "npm-cache")],
            target,
            f"installing Claude Code {version}",
        )
        if not _is_pinned(claude, version):
            installer = target / "node_modules" / PACKAGE / "install.cjs"
            _run(["node", str(installer)], installer.parent, "Claude Code's postinstall")
        found = _version_of(claude)
        if not _is_pinned(claude, version):
            raise RuntimeError(
                f"{claude} --version answered {found!r}, expected {version} (Claude Code); "
                f"remove {target} and retry, or run `npm ci` and "
                f"`node node_modules/{PACKAGE}/install.cjs` there to see the error"
            )
    return claude


def _same_pins(target: Path) -> bool:
    """Tell whether ``target`` was installed from the current package.json and lock file."""
    return all(
        (target / src.name).is_file() and (target / src.name).read_bytes() == src.read_bytes()
        for src in (PACKAGE_JSON, PACKAGE_LOCK)
    )
