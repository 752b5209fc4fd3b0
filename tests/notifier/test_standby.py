"""Only the aggregator holding the reaper lease delivers; the others stand by or hold back."""

from __future__ import annotations

from sessionbeat.notifier.standby import Route, Standby


def test_a_lone_aggregator_always_delivers() -> None:
    """Without a lease (one aggregator) every push goes out at once."""
    sent: list[str] = []
    standby = Standby()
    standby.submit(lambda: sent.append("a"))
    assert sent == ["a"]


def test_a_standby_drops_what_the_holder_delivers() -> None:
    """While another aggregator holds the lease, this one sends nothing (no double push)."""
    sent: list[str] = []
    standby = Standby(lambda: False)
    standby.submit(lambda: sent.append("a"))
    assert sent == [] and standby.dropped == 1


def test_pushes_due_while_nobody_holds_go_out_once_this_one_takes_over() -> None:
    """An approval due during a handover is delivered by the new holder, in order, once."""
    sent: list[str] = []
    held: list[bool | None] = [None]
    standby = Standby(lambda: held[0])
    standby.submit(lambda: sent.append("a"))
    standby.submit(lambda: sent.append("b"))
    standby.settle()
    assert sent == [] and standby.route() is Route.HOLD
    held[0] = True
    standby.settle()
    standby.settle()
    assert sent == ["a", "b"]


def test_pushes_held_back_are_dropped_when_another_takes_over() -> None:
    """If the other aggregator wins the lease, it delivers: this one drops what it held back."""
    sent: list[str] = []
    held: list[bool | None] = [None]
    standby = Standby(lambda: held[0])
    standby.submit(lambda: sent.append("a"))
    held[0] = False
    standby.settle()
    assert sent == [] and standby.dropped == 1 and standby.held_back == []
