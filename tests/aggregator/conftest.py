"""Fixtures of the aggregator tests: a manual clock, a publisher on the shared broker, temp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import short_tmpdir


@pytest.fixture
def tmp() -> Path:
    """A fresh short temp dir."""
    return short_tmpdir("sb-agg-")
