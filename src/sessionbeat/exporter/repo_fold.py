"""Bounded ``repo`` label values: each host keeps its busiest repositories, the rest is ``other``.

A repository name comes from a host (the name of a session's git top-level), so without a cap
one host opening sessions in many checkouts would make as many series. :func:`fold_repos`
keeps, per host, at most ``cap`` repository label values, chosen deterministically: the most
live sessions (``models.LIVE_STATUSES``) first, then the most sessions of any status, then the
name. The others add up into :data:`OTHER_REPO`, so a sum over ``repo`` is unchanged by the
fold. docs/metrics.md ("Bounded labels") states the resulting bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sessionbeat.models import LIVE_STATUSES, SessionStatus

OTHER_REPO = "other"
"""The ``repo`` label the folded repositories add up into. A repository that is really named
``other`` adds up there too (it takes no place among the kept ones), so the label never
appears twice for one host and status."""

REPO_LABEL_MAX = 100
"""Characters of a repository name kept in the ``repo`` label (the name comes from a host)."""


def repo_label(repo: str | None) -> str:
    """Return the ``repo`` label of a repository name: ``""`` outside a repository (None).

    Names longer than :data:`REPO_LABEL_MAX` characters are cut to that length (two names that
    share those characters share the label).
    """
    return (repo or "")[:REPO_LABEL_MAX]


@dataclass(frozen=True, slots=True)
class FoldedCounts:
    """One host's session counts after the fold.

    ``counts`` maps ``(repo label, status)`` to sessions, sorted by label then status order
    (only pairs with sessions); ``first`` is the kept label with the most live sessions (where
    the exporter puts the host's zeros; None when the host has no session); ``folded`` is how
    many repository labels were folded into :data:`OTHER_REPO`.
    """

    counts: dict[tuple[str, SessionStatus], int]
    first: str | None
    folded: int


def fold_repos(counts: Mapping[tuple[str | None, SessionStatus], int], cap: int) -> FoldedCounts:
    """Fold one host's ``(repo, status) -> sessions`` counts to at most ``cap`` repo labels.

    ``counts`` keys carry the repository name as the host sent it (None: outside a repository);
    ``cap`` >= 0 (0 folds every repository). The kept labels are the ``cap`` first by (most
    live sessions, most sessions, name); a host with no more than ``cap`` labels is unchanged.
    Returns a :class:`FoldedCounts` whose counts add up, per status, to the input's. Raises
    ``ValueError`` for a negative ``cap``.
    """
    if cap < 0:
        raise ValueError(f"cap must be >= 0, got {cap}")
    by_label: dict[str, dict[SessionStatus, int]] = {}
    for (repo, status), n in counts.items():
        statuses = by_label.setdefault(repo_label(repo), {})
        statuses[status] = statuses.get(status, 0) + n
    other = by_label.pop(OTHER_REPO, {})
    ranked = sorted(
        by_label.items(),
        key=lambda item: (
            -sum(n for s, n in item[1].items() if s in LIVE_STATUSES),
            -sum(item[1].values()),
            item[0],
        ),
    )
    kept, folded = ranked[:cap], ranked[cap:]
    for _label, statuses in folded:
        for status, n in statuses.items():
            other[status] = other.get(status, 0) + n
    groups = dict(kept)
    if other:
        groups[OTHER_REPO] = other
    order = {status: i for i, status in enumerate(SessionStatus)}
    out = {
        (label, status): n
        for label in sorted(groups)
        for status, n in sorted(groups[label].items(), key=lambda item: order[item[0]])
    }
    first = kept[0][0] if kept else (OTHER_REPO if other else None)
    return FoldedCounts(out, first, len(folded))
