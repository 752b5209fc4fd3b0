"""Fixtures of the aggregator tests: a manual clock, a publisher on the shared broker, temp dirs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessionbeat.broker import LocalBroker
from tests.aggregator.support import ManualClock, Publisher
from tests.conftest import short_tmpdir


@pytest.fixture
def clock() -> ManualClock:
    """A clock standing at support.T0 until the test moves it."""
    return ManualClock()


@pytest.fixture
def tmp() -> Path:
    """A fresh short temp dir."""
    return short_tmpdir("sb-agg-")


@pytest.fixture
def publisher(broker: LocalBroker) -> Iterator[Publisher]:
    """A paho publisher on the shared broker; clears its retained topics afterwards."""
    pub = Publisher(broker)
    yield pub
    pub.close()


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """A CLI run (CliRunner) points root logging at its own stream; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
