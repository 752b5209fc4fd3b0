"""Repo and branch of a working directory without running git (publisher/git.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sessionbeat.publisher.git import RepoInfo, repo_info
from tests.conftest import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A real repository 'kai-app' on branch main with one commit."""
    top = tmp_path / "kai-app"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    git(top, "commit", "-q", "--allow-empty", "-m", "first")
    (top / "src" / "pkg").mkdir(parents=True)
    return top


def test_top_level_and_subdirectory(repo: Path) -> None:
    """A session anywhere inside the repo reports the repo's name and branch."""
    assert repo_info(str(repo)) == RepoInfo("kai-app", "main", False, str(repo))
    assert repo_info(str(repo / "src" / "pkg")).repo == "kai-app"


def test_linked_worktree_reports_the_main_repository(repo: Path, tmp_path: Path) -> None:
    """A worktree elsewhere belongs to its main repo; its own branch is reported."""
    worktree = tmp_path / "feature-x-checkout"
    git(repo, "worktree", "add", "-q", "-b", "feature-x", str(worktree))
    info = repo_info(str(worktree))
    assert (info.repo, info.branch, info.detached) == ("kai-app", "feature-x", False)


def test_detached_head_gives_the_short_commit(repo: Path) -> None:
    """A detached checkout shows the short commit id and says it is detached."""
    git(repo, "checkout", "-q", "--detach")
    sha = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"],
        cwd=repo,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    info = repo_info(str(repo))
    assert (info.branch, info.detached) == (sha, True)


def test_deleted_subdirectory_still_finds_the_repo(repo: Path) -> None:
    """A cwd that no longer exists inside a repo still names that repo."""
    assert repo_info(str(repo / "gone" / "deeper")).repo == "kai-app"


def test_not_a_repository_gives_none(tmp_path: Path) -> None:
    """An existing directory outside any repository has no repo."""
    assert repo_info(str(tmp_path)) == RepoInfo(None, None)


@pytest.mark.parametrize(
    ("cwd", "repo"),
    [
        ("/Users/akinpound/Documents/cka-buddy", "cka-buddy"),
        (
            "C:\\Users\\Oliver Productions\\Desktop\\1.SMG-BUSINESS\\0b.)SMG-Main Brands Dev"
            "\\livestream-copilot",
            "livestream-copilot",
        ),
        ("C:\\Users\\noahm\\Project\\", "Project"),
        ("", None),
    ],
)
def test_paths_from_other_machines_fall_back_to_their_last_component(
    cwd: str, repo: str | None
) -> None:
    """Real cwds from the fixtures (macOS, Windows) that do not exist here keep a useful name."""
    assert repo_info(cwd).repo == repo


def test_branch_names_with_slashes(repo: Path) -> None:
    """A branch like feature/login keeps its full name (only refs/heads/ is cut)."""
    git(repo, "switch", "-q", "-c", "feature/login")
    assert repo_info(str(repo / "src")).branch == "feature/login"


def test_submodule_is_its_own_repository(repo: Path, tmp_path: Path) -> None:
    """Inside a submodule (a `.git` file with a relative gitdir) the submodule is the repo."""
    lib = tmp_path / "shared-lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "trunk")
    git(lib, "commit", "-q", "--allow-empty", "-m", "lib")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    dotgit = repo / "vendor" / "lib" / ".git"
    assert dotgit.is_file()
    assert dotgit.read_text().startswith("gitdir: ../")
    info = repo_info(str(repo / "vendor" / "lib"))
    assert (info.repo, info.branch) == ("lib", "trunk")
    assert repo_info(str(repo / "vendor")).repo == "kai-app"


def test_worktree_of_a_bare_repository_is_named_without_dot_git(repo: Path, tmp_path: Path) -> None:
    """A worktree of a bare clone (kai-app.git) reports the repo as kai-app."""
    bare = tmp_path / "bare" / "kai-app.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    worktree = tmp_path / "wt-hotfix"
    git(bare, "worktree", "add", "-q", "-b", "hotfix", str(worktree))
    info = repo_info(str(worktree))
    assert (info.repo, info.branch, info.toplevel) == ("kai-app", "hotfix", str(worktree))


def test_symlinked_directory_resolves_to_the_repository(repo: Path, tmp_path: Path) -> None:
    """A cwd reached through a symlink (e.g. /tmp -> /private/tmp) still finds the repo."""
    link = tmp_path / "shortcut"
    link.symlink_to(repo / "src")
    assert repo_info(str(link)).repo == "kai-app"


def test_windows_unc_and_forward_slash_paths() -> None:
    """UNC shares and C:/ paths from Windows hosts are parsed as Windows paths."""
    assert repo_info("\\\\fileserver\\projects\\billing").repo == "billing"
    assert repo_info("C:/Users/noahm/ice-hockey-game").repo == "ice-hockey-game"
