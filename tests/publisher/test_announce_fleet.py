"""``publish --announce`` in a fleet: the agent reads only the repos that matter to it.

A real aggregator over HTTP; the fleet threshold (``peers.WHOLE_LIST_MAX``) is lowered so that
three sessions make a "fleet".
"""

from __future__ import annotations

import httpx
import pytest

from sessionbeat.broker.embedded import LocalBroker
from sessionbeat.models import utc_now
from sessionbeat.publisher import peers
from sessionbeat.publisher.peers import PeerBoard, PeerFetcher
from tests.aggregator.support import Publisher, beat, running, unique_host, wait_until
from tests.conftest import short_tmpdir


def _repo(name: str) -> str:
    return unique_host(name)  # a repo name no other test uses


def test_a_fleet_is_read_repo_by_repo_and_a_small_one_whole(
    broker: LocalBroker, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the threshold the agent reads only its repos and those asked about; else all."""
    shop, blog = _repo("shop"), _repo("blog")
    a, b, c = unique_host("a"), unique_host("b"), unique_host("c")
    with running(broker, short_tmpdir()) as (_service, api):
        publisher.beat(beat(a, "shop-a", repo=shop, branch="main"))
        publisher.beat(beat(b, "shop-b", repo=shop, branch="main"))
        publisher.beat(beat(c, "blog-c", repo=blog, branch="main"))
        wait_until(lambda: len(httpx.get(f"{api.url}/sessions").json()) >= 3)
        board = PeerBoard("near", idle_after=300, stale_after=120)
        fetcher = PeerFetcher(board, api.url)
        try:
            assert fetcher.fetch()
            whole = board.peers(utc_now(), blog)
            assert whole is not None and {"shop-a", "shop-b", "blog-c"} <= {
                p.session_id for p in whole
            }
            monkeypatch.setattr(peers, "WHOLE_LIST_MAX", 2)
            assert fetcher.fetch()
            assert board.status()["remote_repos"] == 0  # nothing here, nothing asked yet
            assert board.peers(utc_now(), shop) is None  # unknown, not "nobody": asked now
            assert fetcher.fetch()
            known = board.peers(utc_now(), shop)
            assert known is not None
            assert {p.session_id for p in known} == {"shop-a", "shop-b"}
            assert board.peers(utc_now(), blog) is None
        finally:
            fetcher.stop()
