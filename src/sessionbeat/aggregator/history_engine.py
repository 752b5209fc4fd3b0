"""The SQLAlchemy engines under the history: a SQLite file, or a shared PostgreSQL database.

:func:`make_engine` builds one from the history's ``url`` (any SQLAlchemy URL, e.g.
``postgresql+psycopg://user:pass@db:5432/sessionbeat``: psycopg 3 as the driver, SQLAlchemy's
own connection pool with a liveness check before each use) or, without one, the SQLite file at
``path`` (:func:`sqlite_engine`: one connection, opened by
:func:`~sessionbeat.aggregator.history_file.connect`). :func:`redact` and :func:`reason` keep a
URL's password out of every log line, error and ``/healthz`` reason.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from sessionbeat.aggregator.history_file import connect

CONNECT_TIMEOUT = 5
"""Seconds a PostgreSQL connection attempt may take (libpq's ``connect_timeout``)."""

POOL_SIZE = 2
"""Connections SQLAlchemy's pool keeps open to PostgreSQL (the history's lock serialises its
use: one writes or reads at a time, the second is for a read racing a reconnect)."""


def sqlite_engine(path: Path, max_bytes: int | None = None) -> Engine:
    """Return an engine on the SQLite file ``path`` (its one connection made on first use).

    The connection comes from :func:`~sessionbeat.aggregator.history_file.connect` (WAL,
    ``max_bytes`` cap) and is kept (``StaticPool``): the history locks around every use. Each
    transaction starts with an explicit ``BEGIN`` (SQLAlchemy's recipe for a driver in
    autocommit mode), so a batch of inserts is one transaction.
    """
    engine = create_engine(
        "sqlite+pysqlite://",
        creator=lambda: connect(path, max_bytes),
        poolclass=StaticPool,
        hide_parameters=True,
    )

    @event.listens_for(engine, "begin")
    def _begin(conn: object) -> None:  # pragma: no branch - wired by SQLAlchemy
        conn.exec_driver_sql("BEGIN")  # type: ignore[attr-defined]

    return engine


def make_engine(url: str | None, path: Path, max_bytes: int | None = None) -> Engine:
    """Return the history's engine: on ``url`` when given, else on the SQLite file ``path``.

    ``url`` is a SQLAlchemy URL (``postgresql+psycopg://...``); its engine pools up to
    :data:`POOL_SIZE` connections, checks each before use (``pool_pre_ping``) and gives up
    connecting after :data:`CONNECT_TIMEOUT` seconds. Never connects itself. Raises
    ``sqlalchemy.exc.ArgumentError`` for a URL SQLAlchemy cannot parse and
    ``ModuleNotFoundError`` when its driver is not installed.
    """
    if url is None:
        return sqlite_engine(path, max_bytes)
    parsed = make_url(url)
    args: dict[str, object] = {}
    if parsed.get_backend_name() == "postgresql":
        args["connect_timeout"] = CONNECT_TIMEOUT
    return create_engine(
        parsed,
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args=args,
    )


def redact(url: str | URL) -> str:
    """Return ``url`` with its password replaced by ``***`` (for logs and health reasons)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):  # not even parseable: say nothing of it
        return "<unparseable history URL>"


def password(url: str | None) -> str | None:
    """Return the password in ``url`` (None: no URL, none in it, or not parseable)."""
    if url is None:
        return None
    try:
        return make_url(url).password
    except (SQLAlchemyError, ValueError):
        return None


def reason(exc: BaseException, secret: str | None = None) -> str:
    """Return what went wrong in ``exc`` in one line, without SQL, parameters or ``secret``.

    For SQLAlchemy's wrapper of a driver error the driver's own message (e.g. SQLite's
    "database or disk is full", psycopg's "connection ... refused"); ``secret`` (a password) is
    replaced by ``***`` wherever it appears.
    """
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    if secret:
        text = text.replace(secret, "***")
    return text
