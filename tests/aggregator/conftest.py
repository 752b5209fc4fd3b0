"""Fixtures of the aggregator tests: temp dirs, and real PostgreSQL clusters for the history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import short_tmpdir
from tests.pg import PgCluster


@pytest.fixture
def tmp() -> Path:
    """A fresh short temp dir."""
    return short_tmpdir("sb-agg-")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """A running PostgreSQL cluster of the test session (skips, or fails on CI, without one)."""
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A running PostgreSQL cluster of one test's own (which it may stop and start)."""
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
