"""Which process is Claude Code above a hook, and is it still the same (publisher/liveness.py).

Real process chains: executable scripts named like the processes they stand for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from sessionbeat.publisher.liveness import ProcessRef, find_claude_process, is_alive

LINUX = sys.platform.startswith("linux")


def chain_of_scripts(tmp_path: Path, names: list[str]) -> Path:
    """Executable scripts, each running the next; the last runs a probe under ``sh -c``.

    The process names are the script names (Linux takes a script's name as its comm), so
    ``claude`` stands for Claude Code's native binary. Returns the first script.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import json, os, sys\n"
        f"sys.path[:0] = {sys.path!r}\n"
        "import psutil\n"
        "from sessionbeat.publisher.liveness import find_claude_process\n"
        "ref = find_claude_process(os.getppid(), 0, max_depth=int(sys.argv[1]))\n"
        "names = {p.pid: p.name() for p in psutil.Process().parents()}\n"
        "print(json.dumps([ref, names.get(ref[0]) if ref else None]))\n"
    )
    argv = ["sh", "-c", f'{sys.executable} {probe} "$0"; true']  # $0: the depth
    for name in reversed(names):
        script = tmp_path / name
        script.write_text(
            f"#!{sys.executable}\nimport subprocess, sys\n"
            f"sys.exit(subprocess.call({argv!r} + sys.argv[1:]))\n"
        )
        script.chmod(0o755)
        argv = [str(script)]
    return tmp_path / names[0]


def run_chain(first: Path, depth: int) -> tuple[list[float] | None, str | None]:
    """Run the chain with the probe looking ``depth`` processes up; (ref, its name)."""
    out = subprocess.run(
        [str(first), str(depth)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    ref, name = json.loads(out)
    return ref, name


@pytest.mark.skipif(not LINUX, reason="process names of scripts are a Linux trait")
def test_prefers_the_claude_process_over_other_wrappers(tmp_path: Path) -> None:
    """A hook wrapper in ~/.claude/hooks is skipped for the ancestor that is Claude Code."""
    first = chain_of_scripts(tmp_path / "home" / ".claude" / "hooks", ["claude", "hookwrap"])
    ref, name = run_chain(first, 3)  # sh, hookwrap, claude
    assert name == "claude"
    assert ref is not None


@pytest.mark.skipif(not LINUX, reason="process names of scripts are a Linux trait")
def test_falls_back_to_the_first_non_shell_ancestor(tmp_path: Path) -> None:
    """Without anything Claude-like in reach, the first ancestor that is not a shell is it."""
    first = chain_of_scripts(tmp_path / "bin", ["editor", "hookwrap"])
    ref, name = run_chain(first, 3)  # sh, hookwrap, editor
    assert name == "hookwrap"
    assert ref is not None


def test_found_process_is_alive_until_another_start_time(tmp_path: Path) -> None:
    """A hook run through `sh -c` resolves to its starter; another start time is another process."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, json, sys\n"
        "sys.path[:0] = " + repr(sys.path) + "\n"
        "from sessionbeat.publisher.liveness import find_claude_process\n"
        "print(json.dumps(find_claude_process(os.getppid(), 0, max_depth=2)))\n"
    )
    out = subprocess.run(
        ["sh", "-c", f"{sys.executable} {probe}; true"], capture_output=True, text=True, check=True
    ).stdout
    pid, created = json.loads(out)
    assert pid == os.getpid()  # sh is skipped: this test process started the shell
    assert is_alive(ProcessRef(pid, created))
    assert is_alive(ProcessRef(pid, None))
    assert not is_alive(ProcessRef(pid, created - 100))  # another start time: a reused pid


def test_gone_parent_falls_back_to_grandparent() -> None:
    """If the hook's parent already exited, the grandparent the hook reported is used."""
    found = find_claude_process(2**22 + 12345, os.getpid(), max_depth=1)
    assert found is not None
    assert found.pid == os.getpid()
    assert found.create_time == psutil.Process().create_time()
    assert find_claude_process(0, 0) is None
    assert find_claude_process(1, 1) is None  # init is never Claude Code
