"""A history shared by aggregators: each reaped life written once, on SQLite and PostgreSQL.

Two :class:`History` objects on one database stand for two aggregators whose reaper leases
overlapped; a file of the schema before the unique key opens and gets it; a real PostgreSQL
stopped and started again loses nothing; its password never shows (issue 15).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from sessionbeat.aggregator.history import History
from sessionbeat.broker.embedded import LocalBroker, free_port
from tests.aggregator.support import ManualClock, Publisher, beat, running, unique_host, wait_until
from tests.aggregator.test_history import BACKENDS, entry, store
from tests.pg import PgCluster

LOGGER = "sessionbeat.aggregator.history"

OLD_SCHEMA = """
CREATE TABLE reaped_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    host TEXT NOT NULL,
    repo TEXT,
    reap_reason TEXT NOT NULL,
    reaped_at REAL NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX reaped_sessions_host ON reaped_sessions (host, reaped_at);
CREATE INDEX reaped_sessions_repo ON reaped_sessions (repo, reaped_at);
CREATE INDEX reaped_sessions_reaped_at ON reaped_sessions (reaped_at);
CREATE INDEX reaped_sessions_session ON reaped_sessions (session_id, reaped_at);
PRAGMA user_version=1;
"""
"""The history's schema 1 (before the unique key of a reaped life), as sessionbeat made it."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    """The request of a test run once per backend (``store(backend, ...)`` opens one)."""
    return request


def test_two_aggregators_writing_the_same_reaped_life_leave_one_row(
    backend: pytest.FixtureRequest, tmp: Path, clock: ManualClock
) -> None:
    """A session reaped by two aggregators at once (one ended, one cleared) is listed once."""
    first = store(backend, tmp, clock)
    url = first.url
    second = History(first.path, keep_days=30, url=url, clock=clock)
    backend.addfinalizer(second.close)
    assert second.open()
    first.add([entry("s", minutes=0)])
    reaped = entry("s", minutes=0)
    late = reaped.model_copy(  # the same last beat, seen later by the other one's clock
        update={"reap_reason": "cleared", "reaped_at": reaped.reaped_at + timedelta(seconds=30)}
    )
    second.add([late, entry("other", minutes=1)])
    first.add([entry("s", minutes=0)])  # and the first once more (a retried batch)
    page = first.page()
    assert [(e.session_id, e.reap_reason) for e in page.items] == [
        ("other", "ended"),
        ("s", "ended"),
    ]
    assert (page.total, first.ok, second.ok) == (2, True, True)


def test_a_session_resumed_after_being_reaped_gets_a_second_row(
    backend: pytest.FixtureRequest, tmp: Path, clock: ManualClock
) -> None:
    """Resumed and reaped again, a session has both lives in the history, newest found first."""
    history = store(backend, tmp, clock)
    first_life = entry("s", minutes=0)
    second_life = entry("s", minutes=90).model_copy(
        update={"started_at": first_life.started_at}  # same start, new activity since
    )
    history.add([first_life])
    history.add([second_life, first_life])
    assert [e.reaped_at for e in history.page().items] == [
        second_life.reaped_at,
        first_life.reaped_at,
    ]
    found = history.find("s")
    assert found is not None and found.reaped_at == second_life.reaped_at


def test_a_file_of_the_old_schema_opens_deduplicated_with_the_unique_key(
    tmp: Path, clock: ManualClock
) -> None:
    """An existing history file keeps its rows, loses duplicate lives, then refuses new ones."""
    path = tmp / "history.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(OLD_SCHEMA)
    rows = [entry("a", minutes=0), entry("a", minutes=0), entry("b", minutes=1)]
    old.executemany(
        "INSERT INTO reaped_sessions (session_id, host, repo, reap_reason, reaped_at, entry) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (
                e.session_id,
                e.host,
                e.repo,
                e.reap_reason,
                e.reaped_at.timestamp(),
                e.model_dump_json(),
            )
            for e in rows
        ],
    )
    old.commit()
    old.close()
    history = History(path, keep_days=30, clock=clock)
    assert history.open()
    assert history.page().total == 2
    history.add([entry("a", minutes=0), entry("b", minutes=1), entry("c", minutes=2)])
    assert [e.session_id for e in history.page().items] == ["c", "b", "a"]
    history.close()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 2
    indexes = {r[1]: r[2] for r in check.execute("PRAGMA index_list(reaped_sessions)")}
    assert indexes["reaped_sessions_life"] == 1  # unique
    check.close()


def test_the_backlog_survives_postgresql_stopping_and_is_written_when_it_is_back(
    pg_cluster: PgCluster, tmp: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Reaped while the database is down: kept in memory, counted, logged once, written later."""
    url = pg_cluster.new_database()
    history = History(tmp / "unused.sqlite3", keep_days=30, url=url, clock=clock, retry_interval=0)
    assert history.open()
    history.add([entry("before", minutes=0)])
    pg_cluster.stop()
    try:
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            assert history.add([entry("during", minutes=1)]) == 0
            assert history.add([entry("during2", minutes=2)]) == 0
            assert history.flush() == 0
        assert (history.pending, history.errors, history.ok) == (2, 3, False)
        found = history.find("during")
        assert found is not None and found.session_id == "during"
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "refused" in errors[0]
        (problem,) = history.problems()
        assert "not writable" in problem and "refused" in problem
    finally:
        pg_cluster.start()
    assert history.flush() == 2
    assert (history.pending, history.ok, history.problems()) == (0, True, [])
    assert [e.session_id for e in history.page().items] == ["during2", "during", "before"]
    history.close()


def test_the_password_of_the_history_url_never_shows(
    postgres: PgCluster, broker: LocalBroker, tmp: Path, clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A history URL whose database refuses: /healthz names the problem, never the password."""
    secret = postgres.password
    wrong = postgres.url().replace(secret, secret + "-wrong")
    unreachable = f"postgresql+psycopg://sessionbeat:{secret}@127.0.0.1:{free_port()}/sessionbeat"
    for url, why in ((wrong, "password authentication failed"), (unreachable, "refused")):
        with (
            caplog.at_level(logging.DEBUG),
            running(broker, tmp, clock=clock, history_url=url) as (service, api),
        ):
            assert service.history.url == url
            body = httpx.get(f"{api.url}/healthz").json()
            assert body["history_ok"] is False
            (reason,) = [r for r in body["reasons"] if "history" in r]
            assert why in reason
            assert httpx.get(f"{api.url}/readyz").status_code == 503
            assert secret not in httpx.get(f"{api.url}/healthz").text
            assert "***@127.0.0.1" in service.history.location
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert why in logged and secret not in logged
        caplog.clear()


def test_an_aggregator_on_postgresql_writes_its_reaped_sessions_there(
    postgres: PgCluster, own_broker: LocalBroker, tmp: Path, clock: ManualClock
) -> None:
    """SESSIONBEAT_HISTORY_URL set: reaped sessions land in PostgreSQL, served by /history."""
    url = postgres.new_database()
    host = unique_host()
    publisher = Publisher(own_broker)
    with (
        running(own_broker, tmp, clock=clock, ended_linger=1, history_url=url) as (_svc, api),
        contextlib.closing(publisher),
    ):
        publisher.beat(beat(host, "s1", status="ended", repo="web"))
        wait_until(lambda: httpx.get(f"{api.url}/sessions", params={"all": "true"}).json())
        clock.advance(5)
        wait_until(lambda: httpx.get(f"{api.url}/history/s1").status_code == 200, what="reaped")
        assert httpx.get(f"{api.url}/healthz").json()["history_ok"] is True
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        hosts = conn.execute(sqlalchemy.text("SELECT host FROM reaped_sessions")).scalars().all()
    engine.dispose()
    assert hosts == [host]


def test_an_empty_history_url_means_the_sqlite_file(broker: LocalBroker, tmp: Path) -> None:
    """SESSIONBEAT_HISTORY_URL= (empty, as compose passes it unset) keeps the SQLite history."""
    from sessionbeat.aggregator.service import AggregatorService
    from tests.aggregator.support import service_settings

    service = AggregatorService(service_settings(broker, tmp, history_url=""))
    assert (service.history.url, service.history.location) == (None, str(tmp / "history.sqlite3"))
