"""Sessions that share a repo and a branch: the "2 on this branch" warning (pure).

Two live sessions editing the same repo and branch, on one machine or several, step on each
other; the page and ``sessionbeat sessions list`` mark them. A session counts while it is live
(``LIVE_STATUSES`` of the contract); a session outside a git repository or on a detached HEAD
(no ``repo`` or no ``branch``) shares nothing. Repos are matched by name (the beat's ``repo``:
the name of the git top-level folder), so the same project checked out on two hosts counts as
one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sessionbeat.models import LIVE_STATUSES, SessionView


def branch_mates(views: Iterable[SessionView]) -> dict[tuple[str, str], int]:
    """Return ``{(host, session_id): n}`` for the live sessions sharing a repo and branch.

    ``n`` (2 or more) counts the live sessions on that repo and branch, the session itself
    included; a session sharing nothing is absent.
    """
    live = [v for v in views if v.status in LIVE_STATUSES and v.repo and v.branch]
    counts = Counter((v.repo, v.branch) for v in live)
    return {
        (v.host, v.session_id): counts[(v.repo, v.branch)]
        for v in live
        if counts[(v.repo, v.branch)] >= 2
    }
