"""One `sessionbeat up` per state dir (stack/lock.py)."""

from __future__ import annotations

import os

import pytest

from sessionbeat.cli_support import exit_code_for
from sessionbeat.errors import StackRunningError
from sessionbeat.stack.lock import StackLock
from tests.conftest import short_tmpdir


def test_a_second_stack_is_told_where_the_first_runs() -> None:
    """The second lock names the first's pid and URLs, how to stop it; the CLI exits 2."""
    state = short_tmpdir()
    with StackLock(state) as first:
        first.record(api="http://127.0.0.1:9001", broker="mqtt://127.0.0.1:1999")
        with pytest.raises(StackRunningError) as refused:
            StackLock(state).acquire()
    message = str(refused.value)
    assert f"already runs for {state} (pid {os.getpid()}:" in message
    assert "api http://127.0.0.1:9001, broker mqtt://127.0.0.1:1999" in message
    assert f"`kill {os.getpid()}`" in message
    assert exit_code_for(refused.value) == 2


def test_the_lock_is_free_again_once_the_stack_stops() -> None:
    """After a stack stops, the next `up` starts (no error) and stack.json is gone."""
    state = short_tmpdir()
    with StackLock(state) as lock:
        lock.record(api="http://127.0.0.1:9001")
        assert (state / "stack.json").is_file()
    assert not (state / "stack.json").exists()
    with StackLock(state) as again:
        again.record(api="http://127.0.0.1:9002")
    assert not (state / "stack.json").exists()
