"""The reaper lease's pure decisions: given the claims seen on the lease topic, who holds it."""

from __future__ import annotations

from sessionbeat.aggregator.lease_rules import SUBSCRIBE_GRACE, LeaseBook
from sessionbeat.models import LeaseClaim


def _book() -> LeaseBook:
    return LeaseBook(settle=1.0, stale_after=15.0, echo_timeout=15.0)


def _claim(holder: str) -> LeaseClaim:
    return LeaseClaim(holder=holder, host=holder.split("-")[0], pid=1)


def test_an_empty_lease_topic_is_vacant_only_after_the_subscribe_grace() -> None:
    """A fresh aggregator does not claim before a retained claim had the chance to arrive."""
    book = _book()
    assert not book.vacant(0.0)  # not even subscribed
    book.subscribed(10.0)
    assert not book.vacant(10.0)
    assert book.vacant(10.0 + SUBSCRIBE_GRACE)


def test_a_retained_claim_of_another_aggregator_makes_this_one_standby() -> None:
    """An aggregator that finds a standing claim neither claims nor holds."""
    book = _book()
    book.subscribed(0.0)
    book.observe(_claim("a-1"), 0.1)
    assert not book.vacant(5.0)
    assert not book.holding(5.0)
    assert "standby, lease held by a" in book.holder_text(5.0)


def test_own_claim_holds_only_after_the_settle_time() -> None:
    """A claimant acts as holder once its claim stood settle seconds with no newer claim."""
    book = _book()
    book.subscribed(0.0)
    book.claim("me-1", 1.0)
    assert not book.holding(1.0)  # not back from the broker yet
    book.observe(_claim("me-1"), 1.1)
    assert not book.holding(1.5)
    assert book.holding(2.1)
    assert book.holder_text(2.1) == "holds the reaper lease"


def test_the_last_claim_received_wins_and_the_earlier_claimant_yields() -> None:
    """Two candidates claim at once: the one whose claim the broker ordered first yields."""
    first, second = _book(), _book()
    for book in (first, second):
        book.subscribed(0.0)
    first.claim("a-1", 1.0)
    second.claim("b-1", 1.0)
    for book in (first, second):  # every watcher receives the claims in the broker's order
        book.observe(_claim("a-1"), 1.1)
        book.observe(_claim("b-1"), 1.2)
    assert first.must_yield(1.2) and not second.must_yield(1.2)
    first.drop()
    assert not first.holding(5.0) and second.holding(5.0)


def test_a_claim_of_another_before_my_own_echo_does_not_make_me_yield() -> None:
    """A claim received before mine came back was earlier than mine: mine wins."""
    book = _book()
    book.subscribed(0.0)
    book.claim("me-1", 1.0)
    book.observe(_claim("other-1"), 1.05)
    book.observe(_claim("me-1"), 1.1)
    assert not book.must_yield(1.1)
    assert book.holding(2.2)


def test_refreshes_of_the_holder_keep_it_and_do_not_restart_the_settle_time() -> None:
    """The holder's periodic re-publication keeps it the holder without a new settle wait."""
    book = _book()
    book.subscribed(0.0)
    book.claim("me-1", 0.0)
    book.observe(_claim("me-1"), 0.1)
    for t in (5.0, 10.0, 15.0, 20.0):
        book.observe(_claim("me-1"), t)
        assert book.holding(t)
    assert book.changes == 1


def test_a_zero_length_message_leaves_the_lease_vacant() -> None:
    """The holder's Last Will (or its release) lets the standby claim at once."""
    book = _book()
    book.subscribed(0.0)
    book.observe(_claim("a-1"), 0.1)
    book.observe(None, 3.0)
    assert book.vacant(3.0)


def test_a_claim_not_refreshed_goes_stale() -> None:
    """A holder gone without its Last Will (a broker restart) stops blocking the lease."""
    book = _book()
    book.subscribed(0.0)
    book.observe(_claim("a-1"), 0.1)
    assert not book.vacant(15.0)
    assert book.vacant(15.2)


def test_the_holder_whose_claim_was_cleared_by_a_loser_claims_again() -> None:
    """A losing claimant's Last Will clears the winner's claim: the winner re-claims."""
    book = _book()
    book.subscribed(0.0)
    book.claim("me-1", 0.0)
    book.observe(_claim("me-1"), 0.1)
    book.observe(None, 3.0)
    assert book.must_reclaim(3.0)
    assert not book.holding(3.0)
    book.observe(_claim("me-1"), 3.1)
    assert not book.holding(3.5)  # settles again
    assert book.holding(4.2)


def test_a_claim_that_never_comes_back_is_given_up() -> None:
    """A claim lost on the way (the lease connection broke) does not block forever."""
    book = _book()
    book.subscribed(0.0)
    book.claim("me-1", 1.0)
    assert not book.must_yield(10.0)
    assert book.must_yield(16.1)


def test_losing_the_watch_connection_forgets_the_holder() -> None:
    """While the lease topic cannot be watched, nobody is taken to hold or to have left it."""
    book = _book()
    book.subscribed(0.0)
    book.claim("me-1", 0.0)
    book.observe(_claim("me-1"), 0.1)
    book.unsubscribed()
    assert not book.holding(5.0)
    assert not book.vacant(5.0)
