r"""Repository name and branch of a working directory, read from ``.git`` without running git.

Spawning ``git`` for every hook event would cost milliseconds and needs git installed; the
on-disk layout is stable (https://git-scm.com/docs/gitrepository-layout):

* ``<top>/.git/`` directory: an ordinary repository; ``HEAD`` holds ``ref: refs/heads/<b>``
  or, detached, a commit id;
* ``<top>/.git`` file with ``gitdir: <path>``: a linked worktree (its gitdir has a
  ``commondir`` file pointing at the main ``.git``) or a submodule (no ``commondir``).

The repo name is the main repository's top-level directory name (a worktree reports the repo
it belongs to). Paths that do not exist here (a deleted directory, another OS's path such as
``C:\Users\x\Project``) fall back to the nearest existing ancestor inside a repository, else
to the path's last component.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """Where a directory is: ``repo`` name, ``branch`` (short commit id when detached)."""

    repo: str | None
    branch: str | None
    detached: bool = False
    toplevel: str | None = None


def pure_path(path: str) -> PurePath:
    r"""Parse ``path`` in its own flavour: Windows (``C:\...``, UNC) or POSIX."""
    if _WINDOWS_PATH.match(path) or ("\\" in path and "/" not in path):
        return PureWindowsPath(path)
    return PurePosixPath(path)


def _read_head(gitdir: Path) -> tuple[str | None, bool]:
    try:
        head = (gitdir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None, False
    if head.startswith("ref:"):
        ref = head[4:].strip()
        return ref.removeprefix("refs/heads/"), False
    return (head[:7] or None), True


def _gitdir_of(dotgit: Path) -> Path | None:
    if dotgit.is_dir():
        return dotgit
    try:
        text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    target = Path(text[7:].strip())
    return target if target.is_absolute() else (dotgit.parent / target).resolve()


def _main_toplevel(top: Path, gitdir: Path) -> Path:
    try:
        common = (gitdir / "commondir").read_text(encoding="utf-8").strip()
    except OSError:
        return top  # ordinary repository or submodule: its own top level
    main_git = (gitdir / common).resolve()
    if main_git.name == ".git":
        return main_git.parent
    return main_git.with_name(main_git.name.removesuffix(".git"))  # bare main repository


def find_repo(directory: Path) -> RepoInfo | None:
    """Return the repository that contains the existing ``directory``, or None."""
    for candidate in (directory, *directory.parents):
        dotgit = candidate / ".git"
        if not dotgit.exists():
            continue
        gitdir = _gitdir_of(dotgit)
        if gitdir is None:
            return None
        branch, detached = _read_head(gitdir)
        main = _main_toplevel(candidate, gitdir)
        return RepoInfo(main.name or None, branch, detached, str(candidate))
    return None


def repo_info(cwd: str) -> RepoInfo:
    """Return repo name and branch for a working directory (see the module doc for rules).

    Never raises; an empty ``cwd`` gives ``RepoInfo(None, None)``.
    """
    if not cwd:
        return RepoInfo(None, None)
    pure = pure_path(cwd)
    if type(pure) is type(PurePath()):  # a path of this OS's flavour: look on disk
        path = Path(cwd)
        try:
            if path.is_dir():
                return find_repo(path.resolve()) or RepoInfo(None, None)
            for ancestor in path.parents:
                if ancestor.is_dir():
                    found = find_repo(ancestor.resolve())
                    if found is not None:
                        return found
                    break
        except OSError:
            pass
    return RepoInfo(pure.name or None, None)
