"""The repo label cap: a host's busiest repositories keep their label, the rest is repo="other"."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sessionbeat.exporter.collector import DEFAULT_MAX_REPOS_PER_HOST
from sessionbeat.exporter.repo_fold import OTHER_REPO, fold_repos
from sessionbeat.models import SessionStatus
from sessionbeat.settings import load_settings
from tests.exporter.test_collector import World


def sid(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def sessions_series(w: World) -> dict[tuple[str, str, str], float]:
    """Every sessionbeat_sessions sample of one scrape, by (host, repo, status)."""
    text = generate_latest(w.registry).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "sessionbeat_sessions":
            for s in family.samples:
                out[(s.labels["host"], s.labels["repo"], s.labels["status"])] = s.value
    return out


def fill(w: World, host: str, repos: dict[str, list[str]]) -> None:
    """Give ``host`` one session per status listed under each repository."""
    n = len(w.state.sessions)
    for repo, statuses in repos.items():
        for status in statuses:
            n += 1
            w.beat(host, sid(n), status, repo=repo)


def test_repos_beyond_the_cap_add_up_into_other() -> None:
    """A host with more repositories than the cap shows its busiest ones and repo="other"."""
    w = World(max_repos=2)
    fill(
        w,
        "mac",
        {
            "a": ["working", "working", "working"],
            "b": ["working", "needs_approval"],
            "c": ["working"],
            "d": ["needs_approval", "ended"],
        },
    )
    series = sessions_series(w)
    assert {repo for _h, repo, _s in series} == {"a", "b", OTHER_REPO}
    assert series[("mac", OTHER_REPO, "working")] == 1
    assert series[("mac", OTHER_REPO, "needs_approval")] == 1
    assert series[("mac", OTHER_REPO, "ended")] == 1
    assert w.value("sessionbeat_metrics_folded_repos") == 2


def test_fold_preserves_the_sums_per_host_and_status() -> None:
    """Summing sessionbeat_sessions over repo gives the same totals with and without the cap."""
    rng = random.Random(15)
    statuses = ["working", "needs_approval", "waiting_for_input", "ended"]
    layout = {
        f"h{h}": {f"r{r}": rng.choices(statuses, k=rng.randint(1, 4)) for r in range(12)}
        for h in range(3)
    }
    totals = []
    for cap in (3, 100):
        w = World(max_repos=cap)
        for host, repos in layout.items():
            fill(w, host, repos)
        by_host_status: Counter[tuple[str, str]] = Counter()
        for (host, _repo, status), n in sessions_series(w).items():
            by_host_status[(host, status)] += int(n)
        totals.append(+by_host_status)
        assert len({(h, r) for h, r, _s in sessions_series(w)}) <= 3 * (min(cap, 12) + 1)
    assert totals[0] == totals[1]


def test_live_sessions_rank_before_ended_ones_and_ties_go_by_name() -> None:
    """The kept repositories are those with the most live sessions, then by name."""
    w = World(max_repos=2)
    fill(
        w,
        "mac",
        {
            "many-ended": ["ended", "ended", "ended"],
            "zeta": ["working"],
            "alpha": ["waiting_for_input"],
        },
    )
    fill(w, "mac", {"beta": ["waiting_for_input"]})
    repos = {repo for _h, repo, _s in sessions_series(w)}
    assert repos == {"alpha", "beta", OTHER_REPO}


def test_hosts_within_the_cap_are_unchanged() -> None:
    """No host over the cap: no repo="other" series and the folded gauge reads 0."""
    w = World(max_repos=2)
    fill(w, "mac", {"a": ["working"], "b": ["working"]})
    fill(w, "pc", {"c": ["working"]})
    assert all(repo != OTHER_REPO for _h, repo, _s in sessions_series(w))
    assert w.value("sessionbeat_metrics_folded_repos") == 0


def test_a_repository_named_other_shares_the_label_once() -> None:
    """A real repository called "other" adds up with the folded ones: one series per status."""
    w = World(max_repos=1)
    fill(w, "mac", {"a": ["working", "working"], "other": ["working"], "b": ["working"]})
    series = sessions_series(w)
    assert series[("mac", OTHER_REPO, "working")] == 2
    assert w.value("sessionbeat_metrics_folded_repos") == 1
    text = generate_latest(w.registry).decode()
    assert text.count('sessionbeat_sessions{host="mac",repo="other",status="working"}') == 1


def test_zeros_once_per_host_under_its_busiest_repo() -> None:
    """Each host has a series for every status (0 if none) on its busiest repo, not on each."""
    w = World()
    fill(w, "mac", {"a": ["working", "working"], "b": ["ended"]})
    series = sessions_series(w)
    assert series[("mac", "a", "needs_approval")] == 0
    assert series[("mac", "a", "stale")] == 0
    assert ("mac", "b", "working") not in series
    assert ("mac", "a", "ended") not in series
    assert series[("mac", "b", "ended")] == 1
    assert len(series) == len(SessionStatus)  # a: every status but ended (zeros too); b: ended


def test_fold_repos_rejects_a_negative_cap_and_folds_all_at_zero() -> None:
    """Cap 0 puts every session under "other"; a negative cap is a programming error."""
    counts = {("a", SessionStatus.WORKING): 2, (None, SessionStatus.IDLE): 1}
    folded = fold_repos(counts, 0)
    assert folded.counts == {
        (OTHER_REPO, SessionStatus.WORKING): 2,
        (OTHER_REPO, SessionStatus.IDLE): 1,
    }
    assert (folded.first, folded.folded) == (OTHER_REPO, 2)
    with pytest.raises(ValueError, match="cap"):
        fold_repos(counts, -1)


def test_setting_default_matches_the_collector_and_reads_the_environment(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SESSIONBEAT_METRICS_MAX_REPOS_PER_HOST sets the cap; unset it is the collector's 20."""
    monkeypatch.delenv("SESSIONBEAT_METRICS_MAX_REPOS_PER_HOST", raising=False)
    assert load_settings().metrics_max_repos_per_host == DEFAULT_MAX_REPOS_PER_HOST == 20
    monkeypatch.setenv("SESSIONBEAT_METRICS_MAX_REPOS_PER_HOST", "3")
    assert load_settings().metrics_max_repos_per_host == 3


def test_claude_code_versions_beyond_twenty_add_up_into_other() -> None:
    """Hosts reporting many versions cannot add series: the 20 most used stay, the rest is other."""
    w = World()
    for n in range(25):
        for k in range(2 if n < 20 else 1):
            w.beat("mac", sid(100 * n + k), "working", claude_version=f"2.1.{n}")
    assert w.value("sessionbeat_claude_code_sessions", version="2.1.0") == 2
    assert w.value("sessionbeat_claude_code_sessions", version="2.1.19") == 2
    assert w.value("sessionbeat_claude_code_sessions", version="2.1.20") is None
    assert w.value("sessionbeat_claude_code_sessions", version="other") == 5
