"""RejectLog: the aggregator's reject warnings stay bounded whatever the hosts send."""

from __future__ import annotations

import logging

import pytest

from sessionbeat.aggregator.reject_log import RejectLog
from sessionbeat.errors import RejectReason

LOGGER = "tests.reject_log"


class Ticks:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def rejects(ticks: Ticks, caplog: pytest.LogCaptureFixture) -> RejectLog:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return RejectLog(logging.getLogger(LOGGER), per_window=20, window=60, clock=ticks)


def bad(rejects: RejectLog, host: str, reason: RejectReason = RejectReason.BAD_JSON) -> None:
    rejects.rejected(host, reason, f"sessionbeat/v1/{host}/sessions/s1", "oops")


def test_a_thousand_bad_hosts_write_a_bounded_number_of_warnings(
    rejects: RejectLog, caplog: pytest.LogCaptureFixture
) -> None:
    """1,000 bad hosts write 20 warnings and one summary line, not 1,000 lines."""
    for i in range(1000):
        bad(rejects, f"h{i}", RejectReason.BAD_JSON if i % 2 else RejectReason.TOO_MANY_SESSIONS)
    assert len(lines(caplog, logging.WARNING)) == 20
    rejects.summarize()
    warnings = lines(caplog, logging.WARNING)
    assert len(warnings) == 21
    assert warnings[-1] == (
        "held back 980 log lines about rejected messages in the last 0 s: "
        "bad_json 490 from 490 origins, too_many_sessions 490 from 490 origins"
    )
    rejects.summarize()
    assert len(lines(caplog, logging.WARNING)) == 21  # nothing held back since: no line


def test_the_summary_comes_by_itself_once_the_window_is_over(
    rejects: RejectLog, ticks: Ticks, caplog: pytest.LogCaptureFixture
) -> None:
    """The reaper's tick writes the summary a minute on, and a new budget starts."""
    for i in range(25):
        bad(rejects, f"h{i}")
    ticks.now += 59
    rejects.tick()
    assert len(lines(caplog, logging.WARNING)) == 20
    ticks.now += 1
    rejects.tick()
    warnings = lines(caplog, logging.WARNING)
    assert warnings[-1].startswith("held back 5 log lines about rejected messages in the last 60 s")
    bad(rejects, "h-new")
    assert "h-new" in lines(caplog, logging.WARNING)[-1]


def test_repeats_from_one_host_are_debug(
    rejects: RejectLog, caplog: pytest.LogCaptureFixture
) -> None:
    """The same reason from the same host warns once; its repeats go to DEBUG."""
    for _ in range(5):
        bad(rejects, "h1")
    assert len(lines(caplog, logging.WARNING)) == 1
    assert len(lines(caplog, logging.DEBUG)) == 4


def test_a_recovery_is_logged_once_and_a_relapse_warns_again(
    rejects: RejectLog, caplog: pytest.LogCaptureFixture
) -> None:
    """A host accepted again after rejects gets one INFO line; a new reject warns again."""
    bad(rejects, "h1")
    bad(rejects, "h1")
    assert rejects.troubled
    rejects.accepted("h1")
    rejects.accepted("h1")
    assert lines(caplog, logging.INFO) == [
        "messages from h1 are accepted again (rejected before: bad_json 2)"
    ]
    assert not rejects.troubled
    bad(rejects, "h1")
    assert len(lines(caplog, logging.WARNING)) == 2


def test_recoveries_share_the_budget(rejects: RejectLog, caplog: pytest.LogCaptureFixture) -> None:
    """A host flapping between bad and good cannot write more than the budget per window."""
    for _ in range(100):
        bad(rejects, "flappy")
        rejects.accepted("flappy")
    written = lines(caplog, logging.WARNING) + lines(caplog, logging.INFO)
    assert len(written) == 20
    rejects.summarize()
    assert lines(caplog, logging.WARNING)[-1].endswith("bad_json 90 from 1 origin, 90 recoveries")
